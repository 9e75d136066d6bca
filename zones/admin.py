from django import forms
from django.contrib import admin

from pylon.console.options import ReadOnlyModelAdmin
from pylon.core.exceptions import ApplicationError
from zones.models import GridZone, ZoneIntensityReading, ZonePriceReading
from zones.services import ZONE_WRITABLE_FIELDS, zone_capacity_change_check


class GridZoneForm(forms.ModelForm):
    class Meta:
        model = GridZone
        fields = ZONE_WRITABLE_FIELDS

    def clean(self):
        """A capacity is not lowered below what is held in the zone (the API's rule). The admin saves
        in the transaction this runs in, so the zone stays locked until the new capacity is saved."""
        cleaned = super().clean()
        if self.instance.pk is not None:
            try:
                zone_capacity_change_check(zone=self.instance, data=cleaned)
            except ApplicationError as exc:
                for field, messages in exc.fields.items():
                    self.add_error(field, messages)
        return cleaned


@admin.register(GridZone)
class GridZoneAdmin(admin.ModelAdmin):
    form = GridZoneForm
    list_display = [
        "zone_name",
        "grid_zone_code",
        "region",
        "country",
        "carbon_intensity",
        "energy_price",
        "neso_region_id",
        "carbon_provider",
        "figures_updated_at",
    ]
    list_filter = ["country", "region", "carbon_provider"]
    search_fields = ["zone_name", "grid_zone_code", "zone_id", "region", "provider_zone_key"]
    readonly_fields = ["id", "figures_updated_at", "created_at", "updated_at"]
    ordering = ["zone_name"]

    # Zones are shared infrastructure: only the service role changes them.
    def has_add_permission(self, request):
        return request.user.is_service_role

    def has_change_permission(self, request, obj=None):
        return request.user.is_service_role

    def has_delete_permission(self, request, obj=None):
        return request.user.is_service_role


class _ReadingAdmin(ReadOnlyModelAdmin):
    """Readings come from providers and imports: the admin shows them and lets the service role delete
    bad ones; nobody edits or adds them by hand (a refresh or an import would overwrite the edit)."""

    list_select_related = ["zone"]
    list_filter = ["source", "zone__country", "zone"]
    search_fields = ["zone__zone_name", "zone__grid_zone_code"]
    date_hierarchy = "period_start"
    ordering = ["-period_start", "zone__zone_name"]
    show_full_result_count = False  # the series grow by thousands of rows a day: skip the COUNT(*)

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_delete_permission(self, request, obj=None):
        return request.user.is_service_role


@admin.register(ZoneIntensityReading)
class ZoneIntensityReadingAdmin(_ReadingAdmin):
    list_display = ["zone", "period_start", "forecast", "actual", "index", "source", "fetched_at"]
    list_filter = ["source", "index", "zone__country", "zone"]


@admin.register(ZonePriceReading)
class ZonePriceReadingAdmin(_ReadingAdmin):
    list_display = ["zone", "period_start", "price", "source", "fetched_at"]
