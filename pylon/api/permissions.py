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
