"""Pylon's admin site: the dashboard on the index, the queue in the sidebar, no dead links."""

from django.contrib import admin
from django.urls import NoReverseMatch, reverse


class PylonAdminSite(admin.AdminSite):
    site_header = "Pylon operations"
    site_title = "Pylon"
    index_title = "Operations dashboard"
    # Pylon has no public site of its own (the SPA lives elsewhere): no "View site" link to a 404.
    site_url = None
    # The sidebar of every app took 290 of 1,400 px and pushed the workloads list into scrolling; the
    # index and the breadcrumbs lead everywhere it did.
    enable_nav_sidebar = False

    def index(self, request, extra_context=None):
        from pylon.console.dashboard import dashboard

        return super().index(request, {**dashboard(user=request.user), **(extra_context or {})})

    def get_app_list(self, request, app_label=None):
        """The queue sits under Workloads, as the first thing an operator opens."""
        apps = super().get_app_list(request, app_label)
        for app in apps:
            if app["app_label"] != "workloads":
                continue
            try:
                url = reverse(f"{self.name}:workloads_computeworkload_queue")
            except NoReverseMatch:  # pragma: no cover - the workloads admin always registers it
                continue
            app["models"].insert(
                0,
                {
                    "name": "Queue",
                    "object_name": "Queue",
                    "admin_url": url,
                    "add_url": None,
                    "view_only": True,
                    "perms": {"view": True},
                },
            )
        return apps
