from rest_framework.routers import SimpleRouter

from zones.api import views

router = SimpleRouter()
router.register("zones", views.GridZoneViewSet, basename="zone")

urlpatterns = router.urls
