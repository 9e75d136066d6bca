from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from apikeys.models import ApiKeyScope
from pylon.api.permissions import IsOperatorOrServiceRole
from pylon.api.viewsets import ScopedGenericViewSet
from webhooks import selectors, services
from webhooks.api.messages import WEBHOOK_MESSAGE_CALLBACK
from webhooks.api.serializers import (
    WebhookDeliverySerializer,
    WebhookEndpointInputSerializer,
    WebhookEndpointSecretSerializer,
    WebhookEndpointSerializer,
)
from webhooks.models import WebhookDelivery, WebhookEndpoint

UUID_PATTERN = "[0-9a-fA-F-]{32,36}"


@extend_schema(tags=["webhooks"])
@extend_schema_view(
    list=extend_schema(operation_id="webhooks_endpoints_list", summary="The organisation's webhook endpoints"),
    retrieve=extend_schema(operation_id="webhooks_endpoints_retrieve", summary="One webhook endpoint"),
    create=extend_schema(
        operation_id="webhooks_endpoints_create",
        summary="Register a webhook endpoint",
        description=(
            "Operators, for their organisation. The URL must be https and resolve only to public addresses "
            "(`webhook_target_refused` otherwise). The answer carries the signing `secret`, shown only now."
        ),
        request=WebhookEndpointInputSerializer,
        responses={201: WebhookEndpointSecretSerializer},
        callbacks=[WEBHOOK_MESSAGE_CALLBACK],
    ),
    partial_update=extend_schema(
        operation_id="webhooks_endpoints_partial_update",
        summary="Change a webhook endpoint",
        description="Enabling a disabled endpoint clears its failure record.",
        request=WebhookEndpointInputSerializer(partial=True),
        responses={200: WebhookEndpointSerializer},
    ),
    destroy=extend_schema(operation_id="webhooks_endpoints_destroy", summary="Delete a webhook endpoint"),
)
class WebhookEndpointViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, ScopedGenericViewSet
):
    model = WebhookEndpoint
    serializer_class = WebhookEndpointSerializer
    permission_classes = [IsOperatorOrServiceRole]
    lookup_value_regex = UUID_PATTERN
    filter_backends: list = []
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    required_scopes = dict.fromkeys(
        ["list", "retrieve", "create", "partial_update", "destroy", "rotate_secret", "ping", "deliveries"],
        ApiKeyScope.WEBHOOKS_MANAGE,
    )

    def scoped_queryset(self, user):
        return selectors.webhook_endpoint_list(fetched_by=user)

    def create(self, request):
        serializer = WebhookEndpointInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = services.webhook_endpoint_create(user=request.user, data=serializer.validated_data)
        return Response(WebhookEndpointSecretSerializer(self.written(endpoint)).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        endpoint = self.get_object()
        serializer = WebhookEndpointInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        endpoint = services.webhook_endpoint_update(endpoint=endpoint, data=serializer.validated_data)
        return Response(WebhookEndpointSerializer(self.written(endpoint)).data)

    def perform_destroy(self, instance):
        services.webhook_endpoint_delete(endpoint=instance)

    @extend_schema(
        operation_id="webhooks_endpoints_rotate_secret",
        summary="Rotate the signing secret",
        description=(
            "A new secret, shown only in this answer. For 24 hours messages carry two signatures (new and "
            "previous), so receivers can switch without losing a message."
        ),
        request=None,
        responses={200: WebhookEndpointSecretSerializer},
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        endpoint = services.webhook_endpoint_secret_rotate(endpoint=self.get_object())
        return Response(WebhookEndpointSecretSerializer(self.written(endpoint)).data)

    @extend_schema(
        operation_id="webhooks_endpoints_ping",
        summary="Send a ping",
        description="Queues a signed `ping` message to the endpoint; its attempts appear in the deliveries.",
        request=None,
        responses={202: WebhookDeliverySerializer},
    )
    @action(detail=True, methods=["post"])
    def ping(self, request, pk=None):
        delivery = services.webhook_ping(endpoint=self.get_object())
        delivery = selectors.webhook_delivery_list(fetched_by=request.user).get(pk=delivery.pk)
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        operation_id="webhooks_endpoints_deliveries_list",
        summary="The endpoint's deliveries",
        description="Newest first, each with every attempt: time, HTTP status, latency and a response excerpt.",
        responses={200: WebhookDeliverySerializer(many=True)},
    )
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        endpoint = self.get_object()
        deliveries = selectors.webhook_delivery_list(fetched_by=request.user).filter(endpoint=endpoint)
        page = self.paginate_queryset(deliveries)
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)


@extend_schema(tags=["webhooks"])
@extend_schema_view(retrieve=extend_schema(operation_id="webhooks_deliveries_retrieve", summary="One delivery"))
class WebhookDeliveryViewSet(mixins.RetrieveModelMixin, ScopedGenericViewSet):
    model = WebhookDelivery
    serializer_class = WebhookDeliverySerializer
    permission_classes = [IsOperatorOrServiceRole]
    lookup_value_regex = UUID_PATTERN
    filter_backends: list = []
    required_scopes = dict.fromkeys(["retrieve", "redeliver"], ApiKeyScope.WEBHOOKS_MANAGE)

    def scoped_queryset(self, user):
        return selectors.webhook_delivery_list(fetched_by=user)

    @extend_schema(
        operation_id="webhooks_deliveries_redeliver",
        summary="Deliver again",
        description=(
            "Sends the same message (same `webhook-id` and body, fresh signatures) now, with a fresh retry schedule."
        ),
        request=None,
        responses={202: WebhookDeliverySerializer},
    )
    @action(detail=True, methods=["post"])
    def redeliver(self, request, pk=None):
        delivery = services.webhook_delivery_redeliver(delivery=self.get_object())
        return Response(WebhookDeliverySerializer(self.written(delivery)).data, status=status.HTTP_202_ACCEPTED)
