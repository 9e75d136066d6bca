from django.urls import path
from rest_framework.routers import SimpleRouter

from scheduling.api import views

router = SimpleRouter()
router.register("scheduling/queue", views.SchedulingQueueViewSet, basename="scheduling-queue")

urlpatterns = [
    path(
        "workloads/<uuid:pk>/recommendations/",
        views.WorkloadRecommendationsView.as_view(),
        name="workload-recommendations",
    ),
    path("scheduling/policy/", views.SchedulingPolicyView.as_view(), name="scheduling-policy"),
    path("scheduling/preview/", views.SchedulingPreviewView.as_view(), name="scheduling-preview"),
    *router.urls,
]
