from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework_simplejwt import views as jwt_views

from accounts import membership, selectors, services
from accounts.api.filtersets import MemberFilterSet
from accounts.api.serializers import (
    MemberRoleSerializer,
    MemberSerializer,
    ProfileUpdateSerializer,
    PylonTokenObtainPairSerializer,
    PylonTokenRefreshSerializer,
    RefreshTokenSerializer,
    RegistrationSerializer,
    TokenPairSerializer,
    UserProfileSerializer,
)
from accounts.models import User
from pylon.api.permissions import IsOperatorOrServiceRole
from pylon.api.schema import error_response
from pylon.api.viewsets import PublicAPIView, ScopedAPIView, ScopedReadOnlyViewSet

sensitive = method_decorator(sensitive_post_parameters("password"), name="dispatch")
LAST_OPERATOR = error_response(
    "The member is the organisation's last active operator and it has other members (`last_operator`): "
    "make another member an operator first."
)


@sensitive
class RegisterView(PublicAPIView):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "register"

    @extend_schema(
        operation_id="auth_register",
        tags=["auth"],
        summary="Register a user account",
        request=RegistrationSerializer,
        responses={201: UserProfileSerializer},
        auth=[],
    )
    def post(self, request):
        serializer = RegistrationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_register(**serializer.validated_data)
        return Response(UserProfileSerializer(user).data, status=status.HTTP_201_CREATED)


@sensitive
@extend_schema_view(
    post=extend_schema(
        operation_id="auth_token_obtain",
        tags=["auth"],
        summary="Sign in: exchange email and password for a token pair",
        description=(
            "The access token carries `role`, `organization` and `user_name` claims. "
            "Wrong credentials and inactive accounts get the same 401."
        ),
        responses={200: TokenPairSerializer, 401: error_response("Wrong credentials (`authentication_failed`).")},
        auth=[],
    )
)
class TokenObtainView(jwt_views.TokenObtainPairView):
    serializer_class = PylonTokenObtainPairSerializer
    idempotency_exempt = True  # a response holding credentials is never stored or replayed
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"


@extend_schema_view(
    post=extend_schema(
        operation_id="auth_token_refresh",
        tags=["auth"],
        summary="Rotate a refresh token",
        description="Returns a new pair; the refresh token sent is blacklisted and cannot be used again.",
        responses={
            200: TokenPairSerializer,
            401: error_response("Invalid, expired or blacklisted refresh token (`token_not_valid`)."),
        },
        auth=[],
    )
)
class TokenRefreshView(jwt_views.TokenRefreshView):
    serializer_class = PylonTokenRefreshSerializer
    idempotency_exempt = True  # single use by design; credentials are never stored or replayed
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"


class LogoutView(PublicAPIView):
    """Possession of the refresh token is the credential, so an expired access token can still log out."""

    @extend_schema(
        operation_id="auth_logout",
        tags=["auth"],
        summary="Sign out: blacklist a refresh token",
        request=RefreshTokenSerializer,
        responses={204: None, 401: error_response("Invalid or already blacklisted token (`token_not_valid`).")},
        auth=[],
    )
    def post(self, request):
        serializer = RefreshTokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.user_logout(refresh_token=serializer.validated_data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class OwnAccountView(ScopedAPIView):
    # An endpoint about the caller's own account: its one row is the caller's.
    model = User

    def scoped_queryset(self, user):
        return selectors.profile_list(fetched_by=user)

    def object_lookup(self):
        return {"pk": self.request.user.pk}


class MeView(OwnAccountView):
    serializer_class = UserProfileSerializer

    @extend_schema(operation_id="auth_me_retrieve", tags=["auth"], summary="The signed-in user's profile")
    def get(self, request):
        return Response(UserProfileSerializer(self.get_object()).data)

    @extend_schema(
        operation_id="auth_me_partial_update",
        tags=["auth"],
        summary="Change the signed-in user's name or email",
        description=(
            "The name changes at once. A new email becomes `pending_email` and a confirmation link is sent "
            "to it; `email` (the login) changes when the link is followed. Role and organisation are not "
            "writable here; sending them is a 400."
        ),
        request=ProfileUpdateSerializer,
        responses={200: UserProfileSerializer},
    )
    def patch(self, request):
        serializer = ProfileUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user = services.user_update_profile(user=self.get_object(), data=serializer.validated_data)
        return Response(UserProfileSerializer(self.written(user)).data)


@extend_schema_view(
    list=extend_schema(
        operation_id="accounts_users_list",
        tags=["accounts"],
        summary="Members of the caller's organisation (operators)",
    ),
    retrieve=extend_schema(
        operation_id="accounts_users_retrieve",
        tags=["accounts"],
        summary="One member of the caller's organisation (operators)",
    ),
)
class MemberViewSet(ScopedReadOnlyViewSet):
    model = User
    serializer_class = MemberSerializer
    permission_classes = [IsOperatorOrServiceRole]
    filterset_class = MemberFilterSet
    search_fields = ["email", "user_name"]
    ordering_fields = ["email", "user_name", "date_joined", "last_login"]
    ordering = ["email"]

    def scoped_queryset(self, user):
        return selectors.user_list(fetched_by=user)

    def _answer(self, member):
        return Response(MemberSerializer(self.written(member)).data)

    @extend_schema(
        operation_id="accounts_users_deactivate",
        tags=["accounts"],
        summary="Deactivate a member (operators)",
        description=(
            "The member can no longer sign in and every session of theirs ends; their workloads stay. "
            "Never yourself (403), nor the organisation's last operator (409). Audited. Deactivating an "
            "inactive member changes nothing."
        ),
        request=None,
        responses={200: MemberSerializer, 409: LAST_OPERATOR},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def deactivate(self, request, pk=None):
        return self._answer(membership.member_deactivate(member=self.get_object(), by=request.user))

    @extend_schema(
        operation_id="accounts_users_reactivate",
        tags=["accounts"],
        summary="Reactivate a member (operators)",
        description="The member may sign in again. Never yourself (403). Audited.",
        request=None,
        responses={200: MemberSerializer},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def reactivate(self, request, pk=None):
        return self._answer(membership.member_reactivate(member=self.get_object(), by=request.user))

    @extend_schema(
        operation_id="accounts_users_role_update",
        tags=["accounts"],
        summary="Change a member's role (service role)",
        description=(
            "OPERATOR also grants the operators' admin access; USER removes it. Operators get 403. The "
            "organisation's last operator is not demoted (409): promote a successor first. Audited."
        ),
        request=MemberRoleSerializer,
        responses={200: MemberSerializer, 409: LAST_OPERATOR},
    )
    # Operators pass the viewset's permission so that another organisation's member is a 404 for them
    # like every row; the service then refuses them (403): only the service role changes roles.
    @action(detail=True, methods=["post"], filter_backends=[])
    def role(self, request, pk=None):
        member = self.get_object()  # first: a member the caller may not see is a 404 whatever the body
        serializer = MemberRoleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        member = membership.member_role_change(member=member, by=request.user, **serializer.validated_data)
        return self._answer(member)
