"""Base viewsets. The queryset is the security boundary (PostHog's routing.py, NetBox's viewsets).

``get_queryset`` cannot be overridden: a subclass implements ``scoped_queryset(user)`` by calling its
app's selector, which decides visibility for the caller in one place. A row outside that queryset
is a 404 for every action, before any object permission is consulted.
"""

from django.db.models import QuerySet
from rest_framework import viewsets


class ScopedViewSetMixin:
    #: The model, so schema generation (which has no real user) gets an empty queryset of it.
    model = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} must not override get_queryset(); implement scoped_queryset(user) "
                "with the app's selector, so that visibility is decided in one place."
            )

    def scoped_queryset(self, user) -> QuerySet:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return self.model.objects.none()
        return self.scoped_queryset(self.request.user)


class ScopedReadOnlyViewSet(ScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    pass


class ScopedGenericViewSet(ScopedViewSetMixin, viewsets.GenericViewSet):
    pass
