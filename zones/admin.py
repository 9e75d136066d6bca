from django.contrib import admin

from zones.models import GridZone


@admin.register(GridZone)
class GridZoneAdmin(admin.ModelAdmin):
    list_display = [
        "zone_name",
        "grid_zone_code",
        "region",
        "country",
        "carbon_intensity",
        "energy_price",
        "neso_region_id",
        "figures_updated_at",
    ]
    list_filter = ["country", "region"]
    search_fields = ["zone_name", "grid_zone_code", "zone_id", "region"]
    readonly_fields = ["id", "figures_updated_at", "created_at", "updated_at"]
    ordering = ["zone_name"]

    # Zones are shared infrastructure: only the service role changes them.
    def has_add_permission(self, request):
        return request.user.is_service_role

    def has_change_permission(self, request, obj=None):
        return request.user.is_service_role

    def has_delete_permission(self, request, obj=None):
        return request.user.is_service_role
