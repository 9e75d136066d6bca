"""Base views. The queryset is the security boundary (PostHog's routing.py, NetBox's viewsets).

Every view that serves a signed-in caller derives from ``ScopedViewSetMixin`` (viewsets) or
``ScopedAPIView`` (plain endpoints: me, recommendations, policy, preview…). Both:

* decide visibility in one place: a subclass implements ``scoped_queryset(user)`` by calling its
  app's selector, and cannot override ``get_queryset``/``get_object``/``get_permissions`` (it raises
  at class creation). A row outside that queryset is a 404 for every action, before any object
  permission is consulted;
* re-read what a write touched, inside the request's transaction: after a successful unsafe request
  the row the view looked up (``get_object``) or created (``written``) must still be in the caller's
  scope, else the request answers 403 and the write is rolled back (NetBox's check).

Transactions (``WritesInTransaction``, for these bases and ``PublicAPIView``): every unsafe request
runs in one transaction that an error rolls back (``ATOMIC_REQUESTS``' guarantee, which DRF's
exception handler relies on); a safe one (GET, HEAD, OPTIONS) runs in autocommit, as reads need no
transaction, which saves the list its BEGIN and COMMIT round trips. Views outside these bases (the
admin, simplejwt's token views) keep ``ATOMIC_REQUESTS`` whole.

``ScopedAPIView`` also always requires authentication; endpoints for anonymous callers (register,
sign in) derive from ``PublicAPIView`` instead, so that they stand out in review.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from django.db import connections, transaction
from django.db.models import Model, QuerySet
from rest_framework import generics, status, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, AllowAny, IsAuthenticated
from rest_framework.views import APIView

from pylon.api.lifetime import FreedAtClose
from pylon.api.permissions import ApiKeyScopes

NOT_OVERRIDABLE = ("get_queryset", "get_object", "get_permissions", "finalize_response", "dispatch")
LEFT_SCOPE = "The change would leave the {name} outside what you may see."


def _atomic_request_aliases() -> list[str]:
    return [alias for alias, settings_dict in connections.settings.items() if settings_dict.get("ATOMIC_REQUESTS")]


class WritesInTransaction:
    # Unsafe methods in one transaction per ``ATOMIC_REQUESTS`` database, safe methods in none. The
    # view function is marked non-atomic for Django's handler, and ``dispatch`` opens the transaction
    # itself for an unsafe method: authentication, the handler, the re-read after the write and the
    # exception handler (whose ``set_rollback`` undoes a failed write) all run inside it, exactly as
    # under ``ATOMIC_REQUESTS``. The idempotency middleware stays outside, as before. (Comments, not a
    # docstring: drf-spectacular would publish a base's docstring on every endpoint.)

    @classmethod
    def as_view(cls, *args, **kwargs):
        view = super().as_view(*args, **kwargs)
        view._non_atomic_requests = set(_atomic_request_aliases())
        return view

    def dispatch(self, request, *args, **kwargs):
        if request.method in SAFE_METHODS:
            return super().dispatch(request, *args, **kwargs)
        with ExitStack() as stack:
            for alias in _atomic_request_aliases():
                stack.enter_context(transaction.atomic(using=alias))
            return super().dispatch(request, *args, **kwargs)


class ScopedViewSetMixin(FreedAtClose, WritesInTransaction):
    #: The model, so schema generation (which has no real user) gets an empty queryset of it.
    model: type[Model] | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__module__ == __name__:  # the bases below
            return
        for name in NOT_OVERRIDABLE:
            if name in cls.__dict__:
                raise TypeError(
                    f"{cls.__name__} must not override {name}(); implement scoped_queryset(user) with the app's "
                    "selector, so that visibility is decided in one place."
                )

    #: The scope an API key needs per action (``pylon.api.permissions.key_scope_for``); an action not
    #: named refuses keys.
    required_scopes: dict[str, str] = {}

    def scoped_queryset(self, user) -> QuerySet:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_permissions(self):
        # The key's scopes narrow whatever the view allows (checked first, so a key hears why);
        # a subclass cannot drop them.
        return [ApiKeyScopes(), *super().get_permissions()]

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return self.model.objects.none()
        return self.scoped_queryset(self.request.user)

    def get_object(self):
        obj = super().get_object()
        self._write_target = obj.pk
        return obj

    # -- the re-read after a write ----------------------------------------------------------------

    _write_target: Any = None
    _write_rechecked = False

    def _visible_after_write(self, pk) -> Model | None:
        return self.scoped_queryset(self.request.user).filter(pk=pk).first()

    def written(self, instance: Model) -> Model:
        """``instance`` as the caller's scope shows it after this request's write (annotations and
        joins included): what a write handler serialises. Outside the scope: 403, rolled back."""
        visible = self._visible_after_write(instance.pk)
        if visible is None:
            raise PermissionDenied(LEFT_SCOPE.format(name=instance._meta.verbose_name))
        self._write_rechecked = True
        return visible

    def finalize_response(self, request, response, *args, **kwargs):
        # A write handler that did not call ``written`` still gets the check for the row it looked up.
        if (
            request.method not in SAFE_METHODS
            and request.method != "DELETE"  # the row is meant to be gone
            and status.is_success(response.status_code)
            and self._write_target is not None
            and not self._write_rechecked
            and self._visible_after_write(self._write_target) is None
        ):
            response = self.handle_exception(PermissionDenied(LEFT_SCOPE.format(name="row")))
        response = super().finalize_response(request, response, *args, **kwargs)
        rate_limit = getattr(request, "rate_limit", None)
        if rate_limit is not None:
            for name, value in rate_limit.headers().items():
                response[name] = value
        return response


class ScopedReadOnlyViewSet(ScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    pass


class ScopedGenericViewSet(ScopedViewSetMixin, viewsets.GenericViewSet):
    pass


# The bases below carry comments, not docstrings: drf-spectacular would publish a base's docstring as
# the description of every endpoint that has none of its own.


class ScopedAPIView(ScopedViewSetMixin, generics.GenericAPIView):
    # A plain endpoint for signed-in callers, scoped like the viewsets. Its row (if it has one) is found
    # by ``get_object()`` in ``scoped_queryset(user)`` with ``object_lookup()`` (the URL's ``pk`` by
    # default), so a row the caller may not see is a 404. Authentication is always required:
    # ``permission_classes`` add to it, never replace it.

    filter_backends: list = []
    pagination_class = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("authentication_classes") == []:
            raise TypeError(f"{cls.__name__} must authenticate its callers; derive from PublicAPIView instead.")

    def object_lookup(self) -> dict[str, Any]:
        return {"pk": self.kwargs["pk"]}

    def get_permissions(self):
        return [IsAuthenticated(), *super().get_permissions()]

    def get_object(self):
        obj = generics.get_object_or_404(self.get_queryset(), **self.object_lookup())
        self.check_object_permissions(self.request, obj)
        self._write_target = obj.pk
        return obj


class PublicAPIView(FreedAtClose, WritesInTransaction, APIView):
    # An endpoint anyone may call (register, sign in, sign out with a refresh token). It reads no row
    # on the caller's behalf; what it does is decided by the credentials in its body.

    permission_classes = [AllowAny]
    authentication_classes: list = []
    # Anonymous: no caller to scope an Idempotency-Key to (pylon.idempotency); a repeated call is
    # harmless anyway (an existing email is a 400, a second logout a 401).
    idempotency_exempt = True
