import django_filters

from zones.models import GridZone


class GridZoneFilterSet(django_filters.FilterSet):
    region = django_filters.CharFilter(lookup_expr="iexact", max_length=80)
    country = django_filters.CharFilter(lookup_expr="iexact", max_length=80)
    neso_region_id = django_filters.NumberFilter(min_value=1, max_value=14)

    class Meta:
        model = GridZone
        fields = ["region", "country", "neso_region_id"]
