"""Passwords, email confirmation and sessions: what the SPA got from Supabase Auth besides sign-in."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from accounts import services
from accounts.api.serializers import (
    AcceptedSerializer,
    LinkTokenSerializer,
    PasswordChangeSerializer,
    PasswordResetConfirmSerializer,
    PasswordResetSerializer,
    TokenPairSerializer,
    token_pair_for,
)
from accounts.api.throttles import EmailAddressRateThrottle
from accounts.api.views import OwnAccountView, sensitive
from pylon.api.schema import error_response
from pylon.api.viewsets import PublicAPIView

RESET_REQUESTED = "If an account uses this address, a link to choose a new password is on its way."
BAD_LINK = error_response("A field is invalid; `fields.token` when the link is forged, used or expired.")


@sensitive
class PasswordChangeView(OwnAccountView):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "password_change"
    idempotency_exempt = True  # the answer holds credentials: never stored or replayed

    @extend_schema(
        operation_id="auth_password_change",
        tags=["auth"],
        summary="Change the signed-in user's password",
        description=(
            "Needs the current password. Every token issued before (on every device) stops working; "
            "the answer is a fresh pair for this device. A password the validators refuse is a 400 "
            "naming `new_password`."
        ),
        request=PasswordChangeSerializer,
        responses={200: TokenPairSerializer},
    )
    def post(self, request):
        serializer = PasswordChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_password_change(user=self.get_object(), **serializer.validated_data)
        return Response(token_pair_for(user))


@sensitive
class PasswordResetView(PublicAPIView):
    throttle_classes = [ScopedRateThrottle, EmailAddressRateThrottle]
    throttle_scope = "password_reset"

    @extend_schema(
        operation_id="auth_password_reset",
        tags=["auth"],
        summary="Forgot password: email a reset link",
        description=(
            "Always 202, whether or not an account uses the address (no account enumeration). The link "
            "(`PASSWORD_RESET_URL?uid=…&token=…`) works once, for `PASSWORD_RESET_TIMEOUT_SECONDS`. "
            "Throttled per client and per address."
        ),
        request=PasswordResetSerializer,
        responses={202: AcceptedSerializer},
        auth=[],
    )
    def post(self, request):
        serializer = PasswordResetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.password_reset_request(email=serializer.validated_data["email"])
        return Response({"detail": RESET_REQUESTED}, status=status.HTTP_202_ACCEPTED)


@sensitive
class PasswordResetConfirmView(PublicAPIView):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth_link"

    @extend_schema(
        operation_id="auth_password_reset_confirm",
        tags=["auth"],
        summary="Set a new password with an emailed reset link",
        description=(
            "Takes the link's `uid` and `token`. Signs the account out everywhere. A forged, used or "
            "expired link is a 400 naming `token`; a password the validators refuse, one naming "
            "`new_password`."
        ),
        request=PasswordResetConfirmSerializer,
        responses={204: None, 400: BAD_LINK},
        auth=[],
    )
    def post(self, request):
        serializer = PasswordResetConfirmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.password_reset_confirm(**serializer.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EmailConfirmView(PublicAPIView):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth_link"

    @extend_schema(
        operation_id="auth_email_confirm",
        tags=["auth"],
        summary="Confirm an email address with an emailed link",
        description=(
            "Takes the link's `uid` and `token`. After registration it confirms the address; after an "
            "email change the new address becomes the login. The link works once, for "
            "`EMAIL_CONFIRMATION_TIMEOUT_SECONDS`; a forged, used or expired one is a 400 naming `token`."
        ),
        request=LinkTokenSerializer,
        responses={204: None, 400: BAD_LINK},
        auth=[],
    )
    def post(self, request):
        serializer = LinkTokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.email_confirm(**serializer.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EmailConfirmationResendView(OwnAccountView):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "email_confirmation_resend"

    @extend_schema(
        operation_id="auth_email_confirmation_resend",
        tags=["auth"],
        summary="Email the confirmation link again",
        description=(
            "To the pending new address if there is one, else to `email`. Throttled. A confirmed address "
            "with no change pending is a 409 `conflict`."
        ),
        request=None,
        responses={202: AcceptedSerializer, 409: error_response("Nothing to confirm (`conflict`).")},
    )
    def post(self, request):
        user = self.get_object()
        services.email_confirmation_resend(user=user)
        return Response(
            {"detail": f"A confirmation link is on its way to {user.pending_email or user.email}."},
            status=status.HTTP_202_ACCEPTED,
        )


class LogoutEverywhereView(OwnAccountView):
    @extend_schema(
        operation_id="auth_logout_everywhere",
        tags=["auth"],
        summary="Sign out everywhere",
        description="Revokes every refresh and access token of the caller, this one included.",
        request=None,
        responses={204: None},
    )
    def post(self, request):
        services.user_sessions_revoke(user=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
