from rest_framework.routers import SimpleRouter

from apikeys.api import views

router = SimpleRouter()
router.register("api-keys", views.ApiKeyViewSet, basename="api-key")

urlpatterns = router.urls
