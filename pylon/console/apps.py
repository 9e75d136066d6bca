from django.contrib.admin.apps import AdminConfig


class PylonAdminConfig(AdminConfig):
    """Django's admin with Pylon's site as ``admin.site``."""

    default_site = "pylon.console.site.PylonAdminSite"
