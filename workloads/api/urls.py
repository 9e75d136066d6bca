from django.urls import path
from rest_framework.routers import SimpleRouter

from workloads.api import views

router = SimpleRouter()
router.register("workloads", views.WorkloadViewSet, basename="workload")

urlpatterns = [
    # Before the router's routes, whose `workloads/<pk>/` would take "batch" for an id.
    path("workloads/batch/", views.WorkloadBatchView.as_view(), name="workload-batch"),
    path("workloads/batch/template.csv", views.WorkloadBatchTemplateView.as_view(), name="workload-batch-template"),
    *router.urls,
]
