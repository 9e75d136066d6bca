"""ModelAdmin bases shared by the apps' admins."""

from django.contrib import admin


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """Rows Pylon writes itself (events, recommendations, outcomes): shown, never added, edited or
    deleted by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
