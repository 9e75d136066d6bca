"""The negotiation's shortcut gives DRF's own answers."""

import pytest
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from pylon.api.negotiation import ContentNegotiation
from pylon.api.renderers import ORJSONRenderer


class CSVRenderer(BaseRenderer):
    """A second media type to negotiate between (the CSV downloads negotiate on their own)."""

    media_type = "text/csv"
    format = "csv"


RENDERER_LISTS = [
    [ORJSONRenderer()],
    [ORJSONRenderer(), BrowsableAPIRenderer()],
    [CSVRenderer()],
    [CSVRenderer(), ORJSONRenderer()],
]


def _answer(negotiation, request, renderers):
    try:
        renderer, media_type = negotiation.select_renderer(request, renderers)
    except NotAcceptable:
        return "406"
    return type(renderer), media_type


@pytest.mark.parametrize("renderers", RENDERER_LISTS)
@pytest.mark.parametrize(
    "accept",
    [None, "*/*", "application/json", "text/csv", "text/html", "application/json; indent=4", "image/png", "text/*"],
)
@pytest.mark.parametrize("query", ["", "?format=json", "?format=csv"])
def test_the_shortcut_answers_as_drf_does(renderers, accept, query):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(APIRequestFactory().get(f"/api/v1/workloads/{query}", **headers))
    try:
        expected = _answer(DefaultContentNegotiation(), request, renderers)
    except Exception as exc:  # noqa: BLE001 - an unknown ?format= is DRF's 404; ours must raise it too
        with pytest.raises(type(exc)):
            _answer(ContentNegotiation(), request, renderers)
        return
    assert _answer(ContentNegotiation(), request, renderers) == expected
