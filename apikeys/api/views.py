from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from accounts import selectors as account_selectors
from apikeys import selectors, services
from apikeys.api.serializers import ApiKeyCreatedSerializer, ApiKeyInputSerializer, ApiKeySerializer
from apikeys.models import ApiKey
from pylon.api.permissions import IsOperatorOrServiceRole
from pylon.api.viewsets import ScopedGenericViewSet


@extend_schema(tags=["api-keys"])
@extend_schema_view(
    list=extend_schema(
        operation_id="api_keys_list",
        summary="The organisation's API keys (operators)",
        description="Never their secrets. The service role sees every organisation's.",
    ),
    retrieve=extend_schema(operation_id="api_keys_retrieve", summary="One API key (operators)"),
    create=extend_schema(
        operation_id="api_keys_create",
        summary="Create an API key (operators)",
        description=(
            "Returns the key's secret (`key`) this once: Pylon stores only its SHA-256. The key acts in the "
            "organisation with its scopes only; what it submits is owned by its own user (`principal`)."
        ),
        request=ApiKeyInputSerializer,
        responses={201: ApiKeyCreatedSerializer},
    ),
)
class ApiKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedGenericViewSet):
    # No ``required_scopes``: a key cannot list, create or revoke keys.
    model = ApiKey
    serializer_class = ApiKeySerializer
    permission_classes = [IsOperatorOrServiceRole]
    filter_backends: list = []
    http_method_names = ["get", "post", "head", "options"]

    def scoped_queryset(self, user):
        return selectors.api_key_list(fetched_by=user)

    def create(self, request):
        serializer = ApiKeyInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        organization = self._organization(data.get("organization"))
        key, secret = services.api_key_create(
            organization=organization,
            name=data["name"],
            scopes=data["scopes"],
            expires_at=data.get("expires_at"),
            created_by=request.user,
        )
        body = ApiKeyCreatedSerializer(self.written(key)).data
        body["key"] = secret
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="api_keys_revoke",
        summary="Revoke an API key (operators)",
        description="At once: the next request with it is a 401 `api_key_not_valid`. Revoking twice changes nothing.",
        request=None,
        responses={200: ApiKeySerializer},
    )
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        key = services.api_key_revoke(key=self.get_object(), revoked_by=request.user)
        return Response(ApiKeySerializer(self.written(key)).data)

    def _organization(self, organization_id):
        user = self.request.user
        if organization_id is None:
            if user.is_service_role:
                raise ValidationError({"organization": ["The service role names the organisation."]})
            organization_id = user.organization_id
        organization = account_selectors.organization_list(fetched_by=user).filter(pk=organization_id).first()
        if organization is None:
            raise ValidationError({"organization": ["No such organisation, or not yours."]})
        return organization
