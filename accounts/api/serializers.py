from django.contrib.auth import get_user_model
from rest_framework import serializers
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import get_md5_hash_password

from accounts import services
from accounts.models import Organization, User
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

    class Meta:
        model = User
        fields = ["id", "email", "user_name", "role", "organization", "is_staff", "is_service_role", "date_joined"]
        read_only_fields = ["id", "role", "organization", "is_staff", "is_service_role", "date_joined"]
        extra_kwargs = {
            "user_name": {"help_text": "Name shown to operators and on the dashboard."},
            "email": {"help_text": "The login; case-insensitive and unique."},
        }


class ProfileUpdateSerializer(StrictInputMixin, serializers.Serializer):
    system_fields = ("id", "role", "organization", "is_staff", "is_superuser", "is_service_role", "date_joined")

    email = serializers.EmailField(max_length=254, required=False)
    user_name = serializers.CharField(max_length=150, required=False, allow_blank=True)


class MemberSerializer(serializers.ModelSerializer):
    """A member of the operator's organisation."""

    class Meta:
        model = User
        fields = ["id", "email", "user_name", "role", "is_active", "date_joined", "last_login"]


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
    return token


class PylonTokenObtainPairSerializer(TokenObtainPairSerializer):
    @classmethod
    def get_token(cls, user):
        return add_profile_claims(super().get_token(user), user)


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
        services.refresh_token_blacklist(token=old)  # atomic: of parallel refreshes one gets here
        new = add_profile_claims(RefreshToken.for_user(user), user)
        return {"access": str(new.access_token), "refresh": str(new)}


class RefreshTokenSerializer(serializers.Serializer):
    refresh = serializers.CharField(help_text="The refresh token to blacklist.")
