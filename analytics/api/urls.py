from django.urls import path

from analytics.api import views

urlpatterns = [
    path("analytics/workloads/", views.WorkloadAnalyticsView.as_view(), name="analytics-workloads"),
    path("analytics/workloads/export/", views.WorkloadAnalyticsExportView.as_view(), name="analytics-workloads-export"),
    path("analytics/zones/utilisation/", views.ZoneUtilisationView.as_view(), name="analytics-zones-utilisation"),
    path("analytics/zones/overbooked/", views.ZoneOverbookingView.as_view(), name="analytics-zones-overbooked"),
    path("analytics/zones/<uuid:pk>/profile/", views.ZoneProfileView.as_view(), name="analytics-zone-profile"),
]
