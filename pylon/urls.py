from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from pylon import docs, health, views
from pylon.observability.views import metrics

# Django tries these in order until one matches: the lists the SPA polls most come first (each app's
# routes are its own, none overlaps another's, so the order decides nothing else; the schema sorts paths).
api_v1 = [
    path("", include("workloads.api.urls")),
    path("", include("notifications.api.urls")),
    path("", include("accounts.api.urls")),
    path("", include("zones.api.urls")),
    path("", include("scheduling.api.urls")),
    path("", include("analytics.api.urls")),
    path("", include("webhooks.api.urls")),
    path("", include("apikeys.api.urls")),
    path("", include("events.api.urls")),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", docs.OfflineRedocView.as_view(url_name="schema"), name="redoc"),
    path("api/redoc/redoc.standalone.js", docs.redoc_bundle, name="redoc-bundle"),
    path("healthz", health.healthz, name="healthz"),
    path("livez", health.livez, name="livez"),
    path("metrics", metrics, name="metrics"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("admin/", admin.site.urls),
]

handler400 = "pylon.views.bad_request"
handler404 = "pylon.views.not_found"
handler500 = "pylon.views.server_error"
