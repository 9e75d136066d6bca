from rest_framework.permissions import SAFE_METHODS, BasePermission


class IsServiceRoleOrReadOnly(BasePermission):
    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        return request.method in SAFE_METHODS or request.user.is_service_role


class IsOperatorOrServiceRole(BasePermission):
    message = "Only operators of the organisation may do this."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and (user.is_operator or user.is_service_role))


#: What OPTIONS is for a key: allowed wherever the view takes keys at all (it only describes).
_DESCRIBE = ("metadata", "options")


def key_scope_for(view, method: str) -> str | None:
    """The scope an API key needs for ``method`` on ``view``: ``view.required_scopes`` maps each
    viewset action (or, on a plain endpoint, each lower-case HTTP method) to one scope. None: keys
    are refused (the default, so a new endpoint takes no key until it says which scope)."""
    scopes = getattr(view, "required_scopes", None) or {}
    action = getattr(view, "action", None) or method.lower()
    if action == "head":
        action = "get"
    if action in _DESCRIBE:
        return next(iter(scopes.values()), None)
    return scopes.get(action)


def is_api_key(credential) -> bool:
    return bool(getattr(credential, "is_api_key", False))


class ApiKeyScopes(BasePermission):
    """Narrows a request made with an API key (``request.auth``) to the scope the view declares for
    the action; a person's request passes untouched. Every scoped base adds it (``pylon.api.viewsets``),
    on top of the view's own permissions and the selectors' scoping, never instead.

    ``foreign_row_scopes`` (action → scope) is what a key needs, besides, to act on a row its own
    principal does not own (``user_id``): a key with ``workloads:write`` cancels the workloads it
    submitted, only ``workloads:operate`` cancels the others of its organisation."""

    def has_permission(self, request, view):
        if not is_api_key(request.auth):
            return True
        required = key_scope_for(view, request.method)
        if required is None:
            self.message = "API keys cannot be used here; sign in as a person."
            return False
        if required not in request.auth.scopes:
            self.message = f"This API key lacks the scope `{required}`."
            return False
        return True

    def has_object_permission(self, request, view, obj):
        if not is_api_key(request.auth):
            return True
        required = (getattr(view, "foreign_row_scopes", None) or {}).get(getattr(view, "action", None))
        if required and getattr(obj, "user_id", None) != request.user.pk and required not in request.auth.scopes:
            self.message = f"This API key may act only on its own rows here; others need the scope `{required}`."
            return False
        return True
