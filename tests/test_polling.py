"""Cheap polling: ETag / If-None-Match → 304 on every GET, ``updated_since`` on the lists that
change, and RateLimit-* headers on signed-in answers."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from conftest import client_for
from notifications.models import Notification
from tests.notifications.factories import NotificationFactory
from tests.test_endpoints import ROUTES
from tests.workloads.factories import WorkloadFactory
from tests.zones.factories import GridZoneFactory
from workloads.models import ComputeWorkload, WorkloadEvent

pytestmark = pytest.mark.django_db
LIST_GETS = sorted(path for method, path, _ in ROUTES if method == "GET" and "{pk}" not in path)


@pytest.mark.parametrize("path", LIST_GETS)
def test_every_get_has_an_etag_and_answers_304_when_unchanged(service_user, organization, path):
    client = client_for(service_user)
    query = f"?organization={organization.pk}" if path == "/api/v1/scheduling/policy/" else ""
    with time_machine.travel(timezone.now(), tick=False):  # figures "until now" stay the same
        first = client.get(path + query)
        assert first.status_code == 200, first.content
        if first.streaming:
            assert not first.has_header("ETag")  # a stream is never held in memory to be hashed
            return
        etag = first["ETag"]
        again = client.get(path + query, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b""
    assert again["ETag"] == etag and again.has_header("RateLimit-Remaining")


@pytest.fixture
def workload(user):
    return WorkloadFactory(user=user)


@pytest.mark.parametrize("suffix", ["", "{pk}/", "{pk}/events/", "{pk}/recommendations/"])
def test_an_objects_etag_changes_when_it_changes(user, workload, suffix):
    client = client_for(user)
    path = "/api/v1/workloads/" + suffix.format(pk=workload.pk)
    etag = client.get(path)["ETag"]
    assert client.get(path, HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert client.post(f"/api/v1/workloads/{workload.pk}/cancel/", {"note": "not needed"}).status_code == 200
    changed = client.get(path, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag and changed.json()


def test_workloads_updated_since(user):
    old, new = WorkloadFactory(user=user), WorkloadFactory(user=user)
    long_ago = timezone.now() - timedelta(hours=2)
    ComputeWorkload.objects.filter(pk=old.pk).update(updated_at=long_ago)
    since = (timezone.now() - timedelta(hours=1)).isoformat()
    response = client_for(user).get("/api/v1/workloads/", {"updated_since": since})
    assert [row["id"] for row in response.json()["results"]] == [str(new.pk)]
    everything = client_for(user).get("/api/v1/workloads/", {"updated_since": long_ago.isoformat()})
    assert {row["id"] for row in everything.json()["results"]} == {str(old.pk), str(new.pk)}


def test_notifications_updated_since_counts_reading_as_a_change(user):
    long_ago = timezone.now() - timedelta(hours=2)
    untouched = NotificationFactory(recipient=user, created_at=long_ago)
    read_now = NotificationFactory(recipient=user, created_at=long_ago)
    fresh = NotificationFactory(recipient=user)
    Notification.objects.filter(pk=read_now.pk).update(read_at=timezone.now())
    since = (timezone.now() - timedelta(hours=1)).isoformat()
    response = client_for(user).get("/api/v1/notifications/", {"updated_since": since})
    assert {row["id"] for row in response.json()["results"]} == {str(read_now.pk), str(fresh.pk)}
    assert str(untouched.pk) not in response.content.decode()


def test_events_updated_since(user, workload):
    client = client_for(user)
    WorkloadEvent.objects.filter(workload=workload).update(created_at=timezone.now() - timedelta(hours=2))
    since = timezone.now() - timedelta(seconds=1)
    assert client.post(f"/api/v1/workloads/{workload.pk}/cancel/", {}).status_code == 200
    events = client.get(f"/api/v1/workloads/{workload.pk}/events/", {"updated_since": since.isoformat()}).json()
    assert [event["to_status"] for event in events["results"]] == ["CANCELLED"]


@pytest.mark.parametrize("path", ["/api/v1/workloads/", "/api/v1/notifications/", "/api/v1/workloads/{pk}/events/"])
def test_a_malformed_updated_since_is_a_400_naming_it(user, workload, path):
    response = client_for(user).get(path.format(pk=workload.pk), {"updated_since": "yesterday"})
    assert response.status_code == 400 and "updated_since" in response.json()["fields"]


def test_rate_limit_headers_count_down_and_cors_exposes_them(user):
    GridZoneFactory()
    client = client_for(user)
    first = client.get("/api/v1/zones/", HTTP_ORIGIN="http://localhost:5173")
    second = client.get("/api/v1/zones/")
    assert int(first["RateLimit-Remaining"]) == int(second["RateLimit-Remaining"]) + 1
    assert first["RateLimit-Limit"] == second["RateLimit-Limit"]
    exposed = {h.strip().lower() for h in first["Access-Control-Expose-Headers"].split(",")}
    assert {"etag", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"} <= exposed


def test_anonymous_answers_carry_no_rate_limit_headers(api_client):
    assert not api_client.get("/api/v1/workloads/").has_header("RateLimit-Remaining")
