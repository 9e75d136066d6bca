import django_filters
from django import forms
from drf_spectacular.utils import extend_schema_field

from pylon.api.filters import PylonFilterSet
from zones.models import NESO_REGION_IDS, GridZone


@extend_schema_field({"type": "integer", "minimum": NESO_REGION_IDS[0], "maximum": NESO_REGION_IDS[-1]})
class NesoRegionFilter(django_filters.NumberFilter):
    """A whole NESO region id (1–14); anything else is a 400, and the schema gives the bounds."""

    field_class = forms.IntegerField


class GridZoneFilterSet(PylonFilterSet):
    region = django_filters.CharFilter(lookup_expr="iexact", max_length=80)
    country = django_filters.CharFilter(lookup_expr="iexact", max_length=80)
    neso_region_id = NesoRegionFilter(
        min_value=NESO_REGION_IDS[0],
        max_value=NESO_REGION_IDS[-1],
        help_text="NESO region id, 1 to 14 (the DNO regions).",
    )

    class Meta:
        model = GridZone
        fields = ["region", "country", "neso_region_id"]
