from django.db.models import QuerySet

from zones.models import GridZone


def zone_list(*, fetched_by=None) -> QuerySet[GridZone]:
    """Every signed-in user sees every zone: zones are shared infrastructure, not tenant data."""
    return GridZone.objects.all()
