from django.contrib.auth import get_user_model
from rest_framework import serializers
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import get_md5_hash_password

from accounts import services
from accounts.models import AuditEntry, Organization, Role, User
from pylon.api.serializers import StrictInputMixin


class OrganizationSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ["id", "name", "slug"]


class UserProfileSerializer(serializers.ModelSerializer):
    """The signed-in user's own profile (also what registration returns)."""

    organization = OrganizationSummarySerializer(read_only=True, allow_null=True)
    is_service_role = serializers.BooleanField(
        read_only=True, help_text="Staff with full backend access (not an operator)."
    )

    email_verified = serializers.BooleanField(
        read_only=True, help_text="Whether `email` is confirmed; workloads can be submitted only then."
    )

    class Meta:
        model = User
        fields = [
            "id",
            "email",
            "email_verified",
            "pending_email",
            "user_name",
            "role",
            "organization",
            "is_staff",
            "is_service_role",
            "date_joined",
        ]
        read_only_fields = [
            "id",
            "pending_email",
            "role",
            "organization",
            "is_staff",
            "is_service_role",
            "date_joined",
        ]
        extra_kwargs = {
            "user_name": {"help_text": "Name shown to operators and on the dashboard."},
            "email": {"help_text": "The login; case-insensitive and unique."},
            "pending_email": {
                "help_text": "A new address asked for in a PATCH and not yet confirmed (empty if none); "
                "`email` changes when the link sent to it is followed."
            },
        }


class ProfileUpdateSerializer(StrictInputMixin, serializers.Serializer):
    system_fields = (
        "id",
        "role",
        "organization",
        "is_staff",
        "is_superuser",
        "is_service_role",
        "date_joined",
        "email_verified",
        "pending_email",
    )

    email = serializers.EmailField(
        max_length=254,
        required=False,
        help_text="A new login address: it becomes `pending_email`, and `email` once confirmed by the link "
        "emailed to it. The current address cancels a pending change.",
    )
    user_name = serializers.CharField(max_length=150, required=False, allow_blank=True)


class MemberSerializer(serializers.ModelSerializer):
    """A member of the operator's organisation."""

    email_verified = serializers.BooleanField(read_only=True, help_text="Whether the member confirmed `email`.")

    class Meta:
        model = User
        fields = ["id", "email", "user_name", "role", "is_active", "email_verified", "date_joined", "last_login"]
        extra_kwargs = {
            "last_login": {"help_text": "When the member last signed in (empty: never)."},
            "is_active": {"help_text": "False once an operator deactivated the member: they cannot sign in."},
        }


class RegistrationSerializer(StrictInputMixin, serializers.Serializer):
    system_fields = ProfileUpdateSerializer.system_fields

    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(write_only=True, min_length=8, max_length=128, style={"input_type": "password"})
    user_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    join_code = serializers.CharField(
        max_length=32,
        required=False,
        allow_blank=True,
        help_text="An organisation's join code; without one you join the default organisation.",
    )


def add_profile_claims(token, user: User):
    """The claims the SPA routes on; read from the database whenever a token is minted."""
    token["role"] = user.role
    token["organization"] = str(user.organization_id) if user.organization_id else None
    token["user_name"] = user.user_name
    token["is_service_role"] = user.is_service_role
    token[User.SESSION_CLAIM] = user.session_generation
    return token


class PylonTokenObtainPairSerializer(TokenObtainPairSerializer):
    @classmethod
    def get_token(cls, user):
        return add_profile_claims(super().get_token(user), user)

    def validate(self, attrs):
        data = super().validate(attrs)  # wrong credentials and inactive accounts: 401
        services.user_require_may_sign_in(user=self.user)
        return data


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField(help_text="Short-lived access token: `Authorization: Bearer <access>`.")
    refresh = serializers.CharField(help_text="Refresh token; single use, rotated on every refresh.")


class PylonTokenRefreshSerializer(serializers.Serializer):
    """Rotate a refresh token: blacklist the old one, mint a new pair with fresh claims.

    Unlike simplejwt's own serializer, a deleted or deactivated user is a 401 (not a 500), and the
    role/organisation claims come from the database, not from the old token.
    """

    refresh = serializers.CharField(write_only=True)
    access = serializers.CharField(read_only=True)

    def validate(self, attrs):
        old = RefreshToken(attrs["refresh"])  # verifies signature, expiry, audience, blacklist
        user = (
            get_user_model()
            .objects.filter(**{api_settings.USER_ID_FIELD: old.payload.get(api_settings.USER_ID_CLAIM)})
            .select_related("organization")
            .first()
        )
        if user is None or not api_settings.USER_AUTHENTICATION_RULE(user):
            raise AuthenticationFailed("No active account found for the given token.", "no_active_account")
        if api_settings.CHECK_REVOKE_TOKEN and old.payload.get(
            api_settings.REVOKE_TOKEN_CLAIM
        ) != get_md5_hash_password(user.password):
            raise InvalidToken("The password has changed since this token was issued.")
        if user.token_revoked(old.payload):
            raise InvalidToken("This session was signed out everywhere; sign in again.")
        services.refresh_token_blacklist(token=old)  # atomic: of parallel refreshes one gets here
        new = add_profile_claims(RefreshToken.for_user(user), user)
        return {"access": str(new.access_token), "refresh": str(new)}


class RefreshTokenSerializer(serializers.Serializer):
    refresh = serializers.CharField(help_text="The refresh token to blacklist.")


def token_pair_for(user: User) -> dict[str, str]:
    """A fresh pair for ``user``, with the claims every pair carries."""
    refresh = add_profile_claims(RefreshToken.for_user(user), user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


class PasswordChangeSerializer(StrictInputMixin, serializers.Serializer):
    current_password = serializers.CharField(max_length=128, style={"input_type": "password"})
    new_password = serializers.CharField(
        max_length=128, style={"input_type": "password"}, help_text="Checked by the password validators."
    )


class PasswordResetSerializer(StrictInputMixin, serializers.Serializer):
    email = serializers.EmailField(max_length=254, help_text="The account's login address.")


class LinkTokenSerializer(StrictInputMixin, serializers.Serializer):
    uid = serializers.CharField(max_length=64, help_text="The `uid` parameter of the emailed link.")
    token = serializers.CharField(max_length=128, help_text="The `token` parameter of the emailed link.")


class PasswordResetConfirmSerializer(LinkTokenSerializer):
    new_password = serializers.CharField(
        max_length=128, style={"input_type": "password"}, help_text="Checked by the password validators."
    )


class AccountDeletionSerializer(StrictInputMixin, serializers.Serializer):
    password = serializers.CharField(
        max_length=128, style={"input_type": "password"}, help_text="The current password, to confirm."
    )


class AcceptedSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What happens next, in words for people.")


class OrganizationSerializer(serializers.ModelSerializer):
    """An organisation as its operators manage it."""

    class Meta:
        model = Organization
        fields = ["id", "name", "slug", "join_code", "created_at"]


class MemberRoleSerializer(StrictInputMixin, serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices, help_text="The member's new role.")


class AuditPersonSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "user_name"]


class AuditEntrySerializer(serializers.ModelSerializer):
    """One change to the organisation's membership."""

    actor = AuditPersonSerializer(read_only=True, allow_null=True, help_text="Who made it; null once deleted.")
    target = AuditPersonSerializer(
        read_only=True, allow_null=True, help_text="The member changed; null for the join code or once deleted."
    )

    class Meta:
        model = AuditEntry
        fields = ["id", "organization", "action", "actor", "target", "from_value", "to_value", "created_at"]
