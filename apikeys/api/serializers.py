from rest_framework import serializers

from apikeys.models import ApiKey, ApiKeyScope
from pylon.api.serializers import StrictInputMixin


class ApiKeySerializer(serializers.ModelSerializer):
    """An API key as its organisation's operators see it: never its secret."""

    scopes = serializers.ListField(child=serializers.ChoiceField(choices=ApiKeyScope.choices))
    organization = serializers.UUIDField(source="organization_id", read_only=True)
    created_by = serializers.EmailField(
        source="created_by.email", read_only=True, allow_null=True, help_text="Who created it."
    )
    principal = serializers.UUIDField(
        source="principal_id",
        read_only=True,
        help_text="The key's own user: the owner of what it submits and the actor in the events it causes.",
    )
    is_active = serializers.SerializerMethodField(help_text="Neither revoked nor expired.")

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "scopes",
            "organization",
            "principal",
            "created_by",
            "created_at",
            "expires_at",
            "revoked_at",
            "last_used_at",
            "is_active",
        ]
        read_only_fields = fields

    def get_is_active(self, key: ApiKey) -> bool:
        return key.is_usable()


class ApiKeyCreatedSerializer(ApiKeySerializer):
    """A new key, with its secret: shown this once, stored only as a hash."""

    key = serializers.CharField(
        read_only=True, help_text="The secret (`pyl_…`). Store it now: Pylon cannot show it again."
    )

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


class ApiKeyInputSerializer(StrictInputMixin, serializers.Serializer):
    system_fields = ("id", "prefix", "principal", "created_by", "created_at", "revoked_at", "last_used_at", "key")

    name = serializers.CharField(max_length=100, help_text="What the key is for, e.g. `ci-runner`.")
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=ApiKeyScope.choices), min_length=1, max_length=len(ApiKeyScope)
    )
    expires_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="When it stops working; omit for a key that does not expire."
    )
    organization = serializers.UUIDField(
        required=False,
        help_text="The service role names the organisation; an operator's keys are always their own organisation's.",
    )
