"""A request's objects are freed when its response is closed, not left for the cycle collector."""

import gc

import pytest

from tests.workloads.factories import WorkloadFactory

pytestmark = pytest.mark.django_db


def _page_rows(objects) -> list[dict]:
    """The rows a workloads page read (``values()`` rows, with their owner's columns) among ``objects``.
    (Not the page's output: the test client's response, which holds it, is itself a cycle.)"""
    return [item for item in objects if type(item) is dict and "workload_name" in item and "user__email" in item]


def _garbage_after(request) -> list:
    """The objects that only the cycle collector would have freed after ``request()``."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        request()
        gc.collect()
        return list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


@pytest.mark.parametrize("page", ["first", "cursor"])
def test_a_list_pages_rows_are_freed_when_its_response_is_closed(make_client, user, page):
    WorkloadFactory.create_batch(3, user=user)
    client = make_client(user)
    url = "/api/v1/workloads/?page_size=2"
    if page == "cursor":
        url = client.get(url).json()["next"]

    def request():
        response = client.get(url)
        assert response.status_code == 200
        assert len(response.data["results"]) == (2 if page == "first" else 1)  # the data stays readable

    assert _page_rows(_garbage_after(request)) == []
