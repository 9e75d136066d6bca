"""The live event stream, through Pylon's ASGI application: what arrives, in which order, for whom;
resuming with Last-Event-ID; tickets; the connection cap; waking by pub/sub (Redis) or in-process,
and by the poll when a nudge is lost; heartbeats; and no database connection left behind."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from django.conf import settings as django_settings
from django.db import connection
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.api.serializers import add_profile_claims
from apikeys import services as apikey_services
from apikeys.models import ApiKeyScope
from conftest import client_for
from events.db import read_in_thread
from outbox import selectors as outbox_selectors
from outbox import services as outbox
from outbox import wake
from outbox.models import EventType
from tests.accounts.factories import OperatorFactory, OrganizationFactory, ServiceUserFactory, UserFactory
from tests.apikeys.factories import api_key_create
from tests.events.asgi import call, request
from tests.workloads.test_workload_api import submission
from tests.zones.factories import GridZoneFactory

pytestmark = pytest.mark.django_db(transaction=True)

STREAM = "/api/v1/events/stream/"
TICKETS = "/api/v1/events/stream-tickets/"
WORKLOADS = "/api/v1/workloads/"


def token(user) -> str:
    return str(add_profile_claims(RefreshToken.for_user(user), user).access_token)


async def in_thread(function, *args, **kwargs):
    """``function`` in a worker thread (as another process's commit would be), its connection closed after."""
    return await read_in_thread(lambda: function(*args, **kwargs))


def run(scenario):
    """Run an async scenario to its end in a fresh event loop (each test its own)."""
    return asyncio.run(asyncio.wait_for(scenario, 60))


async def open_stream(credential: str, *, ticket: bool = True, last_event_id: str | None = None, header=None):
    """A stream opened as an EventSource would (a ticket in the URL), or with the Authorization header."""
    headers = {"accept": "text/event-stream"}
    if header is not None:
        headers["last-event-id"] = header
    query = f"?last_event_id={last_event_id}" if last_event_id else ""
    if ticket:
        status, body = await call("POST", TICKETS, token=credential)
        assert status == 201, body
        path = body["stream_url"] + (f"&last_event_id={last_event_id}" if last_event_id else "")
        assert path.startswith(STREAM + "?ticket=pst_")
        return await request("GET", path, headers=headers)
    headers["authorization"] = f"Bearer {credential}"
    return await request("GET", STREAM + query, headers=headers)


async def submit(credential: str, zone, name: str) -> str:
    status, body = await call("POST", WORKLOADS, token=credential, data=submission(zone, workload_name=name))
    assert status == 201, body
    return body["id"]


@pytest.fixture
def zone(db):
    return GridZoneFactory()


@pytest.fixture(autouse=True)
def _quick(settings):
    settings.STREAM_HEARTBEAT_SECONDS = 30
    settings.STREAM_POLL_SECONDS = 30  # a test of the wake path must not be rescued by the poll


def _visible_after(user, cursor) -> list[tuple[str, str]]:
    """What the log holds for ``user`` after ``cursor``: (id, type), oldest first."""
    from events.selectors import stream_event_list

    return [
        (str(pk), kind)
        for pk, kind in stream_event_list(fetched_by=user).filter(id__gt=cursor).values_list("id", "type")
    ]


def _kind(event) -> str | None:
    return event.data["data"].get("notification", {}).get("kind")


def _submitted(events) -> list[str]:
    return [e.data["data"]["workload"]["id"] for e in events if e.type == "workload.submitted"]


def test_a_user_receives_their_workloads_events_in_order_and_their_notifications(zone):
    owner = UserFactory()
    operator = OperatorFactory(organization=owner.organization)
    owner_token, operator_token = token(owner), token(operator)

    async def scenario():
        stream = await open_stream(owner_token)
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["cache-control"] == "no-cache, no-store"
        workload_id = await submit(owner_token, zone, "Streamed")
        status, body = await call(
            "POST",
            f"{WORKLOADS}{workload_id}/assign/",
            token=operator_token,
            data={"zone": str(zone.pk), "reason": "Tested"},
        )
        assert status == 200, body
        received = await stream.drain(until=lambda found: any(_kind(e) == "ASSIGNED" for e in found))
        await stream.close()
        opened_at = next(int(value) for name, value in stream.fields_seen if name == "id")
        expected = await in_thread(_visible_after, owner, opened_at)
        return stream, workload_id, received, expected

    stream, workload_id, received, expected = run(scenario())
    assert ("retry", "3000") in stream.fields_seen
    assert [(event.id, event.type) for event in received] == expected  # all of it, in the log's order
    types = [event.type for event in received]
    assert types[0] == "workload.submitted" and "workload.assigned" in types
    for event in received:
        assert event.data["id"] == f"evt_{event.id}" and event.data["type"] == event.type and event.data["created_at"]
        if event.type.startswith("workload."):
            assert event.data["data"]["workload"]["id"] == workload_id
    assigned = received[types.index("workload.assigned")]
    assert assigned.data["data"]["workload"]["status"] == "SCHEDULED"
    notified = [e for e in received if e.type == "notification.created"]
    assert notified[-1].data["data"]["notification"]["kind"] == "ASSIGNED"
    assert notified[-1].data["data"]["notification"]["workload"] == workload_id
    assert int(notified[-1].id) > int(assigned.id)
    assert all("recipient" not in e.data["data"]["notification"] for e in notified)
    assert [int(event.id) for event in received] == sorted({int(event.id) for event in received})


def test_reconnecting_with_last_event_id_replays_only_what_was_missed(zone):
    owner = UserFactory()
    owner_token = token(owner)

    async def scenario():
        stream = await open_stream(owner_token)
        first = await submit(owner_token, zone, "Before")
        seen = (await stream.events(1))[0]
        await stream.close()
        # Away: two more submissions and a cancel.
        second = await submit(owner_token, zone, "While away 1")
        third = await submit(owner_token, zone, "While away 2")
        status, _ = await call("POST", f"{WORKLOADS}{first}/cancel/", token=owner_token, data={})
        assert status == 200
        # An EventSource's own reconnect (the header) and a new one with a new ticket (the query) alike.
        by_header = await open_stream(owner_token, ticket=False, header=seen.id)
        by_query = await open_stream(owner_token, last_event_id=seen.id)
        cancelled = lambda found: "workload.cancelled" in {e.type for e in found}  # noqa: E731
        missed = [await by_header.drain(until=cancelled), await by_query.drain(until=cancelled)]
        for stream in (by_header, by_query):
            await stream.close()
        # Without a cursor: from now on only.
        fresh = await open_stream(owner_token)
        nothing = await fresh.nothing_within(0.5)
        await fresh.close()
        expected = await in_thread(_visible_after, owner, int(seen.id))
        return seen, first, second, third, missed, nothing, expected

    seen, first, second, third, missed, nothing, expected = run(scenario())
    assert seen.type == "workload.submitted" and seen.data["data"]["workload"]["id"] == first
    for events in missed:
        assert [(e.id, e.type) for e in events] == expected
        lifecycle = [
            (e.type, e.data["data"]["workload"]["id"])
            for e in events
            if e.type in ("workload.submitted", "workload.cancelled")
        ]
        assert lifecycle == [
            ("workload.submitted", second),
            ("workload.submitted", third),
            ("workload.cancelled", first),
        ]
    assert nothing


def test_another_principals_events_never_arrive(zone):
    organization = OrganizationFactory()
    me, colleague = UserFactory(organization=organization), UserFactory(organization=organization)
    operator = OperatorFactory(organization=organization)
    stranger = UserFactory()  # another organisation
    _, key_secret = api_key_create(organization, scopes=[ApiKeyScope.WORKLOADS_READ, ApiKeyScope.WORKLOADS_WRITE])
    other_key_secret = api_key_create(stranger.organization, scopes=[ApiKeyScope.WORKLOADS_READ])[1]
    tokens = {name: token(user) for name, user in [("me", me), ("colleague", colleague), ("stranger", stranger)]}
    tokens["operator"], tokens["service"] = token(operator), token(ServiceUserFactory())

    async def scenario():
        streams = {name: await open_stream(tokens[name]) for name in ("me", "operator", "service")}
        streams["key"] = await open_stream(key_secret, ticket=False)
        streams["other_key"] = await open_stream(other_key_secret)
        ids = {}
        ids["stranger"] = await submit(tokens["stranger"], zone, "Theirs")
        ids["colleague"] = await submit(tokens["colleague"], zone, "A colleague's")
        ids["me"] = await submit(tokens["me"], zone, "Mine")
        ids["key"] = await submit(key_secret, zone, "The key's")
        expected = {
            "me": [ids["me"]],
            "operator": [ids["colleague"], ids["me"], ids["key"]],
            "key": [ids["colleague"], ids["me"], ids["key"]],
            "other_key": [ids["stranger"]],
            "service": [ids["stranger"], ids["colleague"], ids["me"], ids["key"]],
        }
        received = {
            name: await stream.drain(until=lambda found, name=name: len(_submitted(found)) >= len(expected[name]))
            for name, stream in streams.items()
        }
        for stream in streams.values():
            await stream.close()
        return ids, received

    ids, received = run(scenario())

    def workloads(name):
        submitted = _submitted(received[name])
        every = {e.data["data"]["workload"]["id"] for e in received[name] if e.type.startswith("workload.")}
        assert every == set(submitted), name  # no other workload's event of any kind
        return submitted

    assert workloads("me") == [ids["me"]]  # not the colleague's, submitted before it
    assert workloads("operator") == [ids["colleague"], ids["me"], ids["key"]]
    assert workloads("key") == [ids["colleague"], ids["me"], ids["key"]]
    assert workloads("other_key") == [ids["stranger"]]
    assert workloads("service") == [ids["stranger"], ids["colleague"], ids["me"], ids["key"]]
    # Notifications are their recipient's only: the owners' (the key's principal owns what it submitted),
    # never the operator's or the service role's.
    for name in ("me", "key"):
        notified = [
            e.data["data"]["notification"]["workload"] for e in received[name] if e.type == "notification.created"
        ]
        assert set(notified) <= {ids[name]}, name
    for name in ("operator", "service", "other_key"):
        assert not [e for e in received[name] if e.type == "notification.created"], name


def test_a_ticket_works_once_and_not_after_it_expires(settings, zone):
    user = UserFactory()
    user_token = token(user)

    async def scenario():
        status, ticket = await call("POST", TICKETS, token=user_token)
        first = await request("GET", ticket["stream_url"])
        await first.close()
        reused = await request("GET", ticket["stream_url"])
        settings.STREAM_TICKET_TTL_SECONDS = 1
        _, late = await call("POST", TICKETS, token=user_token)
        await asyncio.sleep(1.5)
        expired = await request("GET", late["stream_url"])
        forged = await request("GET", STREAM + "?ticket=pst_" + "A" * 43)
        return status, ticket, first, reused, await reused.json(), expired, await expired.json(), await forged.json()

    status, ticket, first, reused, reused_body, expired, expired_body, forged_body = run(scenario())
    assert status == 201 and ticket["ticket"].startswith("pst_") and ticket["expires_at"]
    assert first.status == 200
    assert reused.status == 401 and reused_body["code"] == "stream_ticket_not_valid"
    assert expired.status == 401 and expired_body["code"] == "stream_ticket_not_valid"
    assert forged_body["code"] == "stream_ticket_not_valid"
    assert set(reused_body) == {"code", "message", "fields"}


def test_the_connections_of_a_principal_are_capped(settings):
    settings.STREAM_MAX_CONNECTIONS = 2
    user, other = UserFactory(), UserFactory()
    user_token, other_token = token(user), token(other)

    async def scenario():
        open_ = [await open_stream(user_token), await open_stream(user_token, ticket=False)]
        refused = await open_stream(user_token)
        refused_body = await refused.json()
        someone_else = await open_stream(other_token)  # the cap is per principal
        await open_[0].close()
        again = await open_stream(user_token)
        statuses = [s.status for s in open_] + [refused.status, someone_else.status, again.status]
        for stream in (open_[1], someone_else, again):
            await stream.close()
        return statuses, refused_body

    statuses, refused_body = run(scenario())
    assert statuses == [200, 200, 429, 200, 200]
    assert refused_body["code"] == "too_many_streams" and set(refused_body) == {"code", "message", "fields"}


def _record_event(organization_id, workload_id):
    """A change committed by someone else (another process, a worker): an event in its own transaction."""
    outbox.event_record(
        type=EventType.WORKLOAD_UPDATED,
        organization_id=organization_id,
        subject_id=workload_id,
        payload={"workload": {"id": str(workload_id)}, "changed": ["workload_name"]},
    )


def test_a_commit_elsewhere_wakes_the_stream_through_the_nudge(zone):
    """With Redis: the nudge crosses pub/sub from a publishing connection to this process's
    subscription; without: the in-process path. The poll is 30 s away, so only the nudge can wake it."""
    from tests.workloads.factories import WorkloadFactory

    owner = UserFactory()
    workload = WorkloadFactory(user=owner, host_dc=zone)
    owner_token = token(owner)

    async def scenario():
        stream = await open_stream(owner_token)
        await asyncio.sleep(0.3)  # subscribed
        started = time.monotonic()
        await in_thread(_record_event, owner.organization_id, workload.pk)
        (event,) = await stream.events(1, timeout=5)
        waited = time.monotonic() - started
        await stream.close()
        return event, waited

    event, waited = run(scenario())
    assert event.type == "workload.updated" and event.data["data"]["workload"]["id"] == str(workload.pk)
    assert waited < 5


@pytest.mark.skipif(not django_settings.REDIS_URL, reason="the Redis pub/sub path needs REDIS_URL")
def test_a_publish_on_redis_by_another_connection_wakes_the_stream(zone):
    """A nudge published by a separate Redis client (as another serving process would) wakes a
    stream of this process; the event itself is read from the log."""
    import redis

    from tests.workloads.factories import WorkloadFactory

    owner = UserFactory()
    workload = WorkloadFactory(user=owner, host_dc=zone)
    owner_token = token(owner)

    def commit_without_nudge():
        original = wake.publish
        wake.publish = lambda nudge: None
        try:
            _record_event(owner.organization_id, workload.pk)
        finally:
            wake.publish = original

    async def scenario():
        stream = await open_stream(owner_token)
        await asyncio.sleep(0.3)
        await in_thread(commit_without_nudge)
        silent = await stream.nothing_within(0.5)  # no nudge, no poll yet: nothing
        other_process = redis.Redis.from_url(django_settings.REDIS_URL)
        head = await in_thread(outbox_selectors.event_log_head)
        other_process.publish(wake.CHANNEL, wake.Nudge(head, frozenset({str(owner.organization_id)})).to_json())
        other_process.close()
        (event,) = await stream.events(1, timeout=5)
        await stream.close()
        return silent, event

    silent, event = run(scenario())
    assert silent
    assert event.type == "workload.updated"


def test_a_lost_nudge_only_delays_the_event_until_the_poll(settings, zone, monkeypatch):
    from tests.workloads.factories import WorkloadFactory

    settings.STREAM_POLL_SECONDS = 0.3
    monkeypatch.setattr(wake, "publish", lambda nudge: None)  # every nudge lost
    owner = UserFactory()
    workload = WorkloadFactory(user=owner, host_dc=zone)
    owner_token = token(owner)

    async def scenario():
        stream = await open_stream(owner_token)
        await in_thread(_record_event, owner.organization_id, workload.pk)
        (event,) = await stream.events(1, timeout=5)
        await stream.close()
        return event

    assert run(scenario()).type == "workload.updated"


def test_an_idle_stream_sends_heartbeats_and_ends_when_its_key_is_revoked(settings):
    settings.STREAM_HEARTBEAT_SECONDS = 0.2
    organization = OrganizationFactory()
    key, secret = api_key_create(organization, scopes=[ApiKeyScope.WORKLOADS_READ])

    async def scenario():
        stream = await open_stream(secret, ticket=False)
        await asyncio.sleep(0.5)
        await in_thread(apikey_services.api_key_revoke, key=key, revoked_by=key.created_by)
        ended = await stream.next_event(timeout=5)
        await stream.close()
        return stream, ended

    stream, ended = run(scenario())
    assert "ping" in stream.comments
    assert ended is None and stream.ended


def test_a_key_without_workloads_read_may_not_stream(settings):
    organization = OrganizationFactory()
    _, secret = api_key_create(organization, scopes=[ApiKeyScope.ZONES_READ])

    async def scenario():
        status, body = await call("POST", TICKETS, token=secret)
        stream = await open_stream(secret, ticket=False)
        return status, body, stream.status, await stream.json()

    status, body, stream_status, stream_body = run(scenario())
    assert status == 403 and "workloads:read" in body["message"]
    assert stream_status == 403 and "workloads:read" in stream_body["message"]


@pytest.mark.parametrize("cursor", ["-1", "abc", "1.5", "99999999999999999999", "١٢"])
def test_a_malformed_cursor_is_a_400(make_client, user, cursor):
    response = make_client(user).get(STREAM, {"last_event_id": cursor}, HTTP_ACCEPT="text/event-stream")
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error" and "last_event_id" in response.json()["fields"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="counts PostgreSQL's sessions")
def test_streams_leave_no_database_connection_behind(zone):
    owner = UserFactory()
    owner_token = token(owner)

    def sessions() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return cursor.fetchone()[0]

    async def scenario():
        before = await in_thread(sessions)
        for round_ in range(3):
            streams = [await open_stream(owner_token, ticket=False) for _ in range(4)]
            await submit(owner_token, zone, f"Round {round_}")
            for stream in streams:
                await stream.events(1)
            for stream in streams:
                await stream.close()
        # A closed session leaves pg_stat_activity a moment after its client closed it.
        for _ in range(50):
            after = await in_thread(sessions)
            if after <= before:
                break
            await asyncio.sleep(0.1)
        return before, after

    before, after = run(scenario())
    # Neither the requests' threads nor the streams' reads (in worker threads) leave one open.
    assert after <= before, (before, after)


def test_events_are_written_as_one_data_line_of_json():
    from django.utils import timezone

    from events.stream import event_message
    from outbox.models import OutboxEvent

    event = OutboxEvent(pk=7, type="workload.updated", payload={}, created_at=timezone.now())
    text = event_message(event, {"workload": {"workload_name": "a\nb"}}).decode()
    lines = text.split("\n")
    assert lines[:2] == ["id: 7", "event: workload.updated"] and text.endswith("\n\n")
    body = json.loads(lines[2].removeprefix("data: "))
    assert body == {
        "id": "evt_7",
        "type": "workload.updated",
        "created_at": body["created_at"],
        "data": {"workload": {"workload_name": "a\nb"}},
    }


def test_a_workload_events_data_is_its_webhook_message_with_the_transition(zone):
    """The SPA gets the workload as the REST API shows it (the webhook message's ``data``)."""
    from events.stream import events_data
    from outbox.models import OutboxEvent
    from webhooks.api.messages import workload_messages

    owner = UserFactory()
    operator = OperatorFactory(organization=owner.organization)
    response = client_for(owner).post(WORKLOADS, submission(zone), format="json")
    assert response.status_code == 201
    client_for(operator).post(f"{WORKLOADS}{response.json()['id']}/assign/", {"zone": str(zone.pk), "reason": "r"})
    assigned = OutboxEvent.objects.get(type="workload.assigned", subject_id=response.json()["id"])
    (data,) = events_data([assigned])
    (message,) = workload_messages([assigned])
    assert data == {**message.data, "action": "assign", "from_status": "PENDING"}
    assert data["workload"]["status"] == "SCHEDULED" and data["workload"]["chosen_grid_zone"]


def test_the_stream_under_a_real_uvicorn_server(zone):
    """Over a loopback socket: a ticket, the stream's headers and first block, then a workload's
    event as soon as it is submitted; closing the socket frees the connection's lease."""
    import http.client

    from events import slots
    from tests.asgi.server import asgi_server

    owner = UserFactory()
    owner_token = token(owner)
    auth = {"Authorization": f"Bearer {owner_token}", "Content-Type": "application/json"}

    def post(port, path, body):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("POST", path, body=json.dumps(body), headers=auth)
        response = connection.getresponse()
        answer = json.loads(response.read())
        connection.close()
        return response.status, answer

    with asgi_server() as port:
        status, ticket = post(port, TICKETS, {})
        assert status == 201
        stream = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        stream.request("GET", ticket["stream_url"], headers={"Accept": "text/event-stream"})
        response = stream.getresponse()
        assert response.status == 200 and response.getheader("Content-Type").startswith("text/event-stream")
        assert response.readline().startswith(b"retry: ")
        status, workload = post(port, WORKLOADS, submission(zone, workload_name="Over the wire"))
        assert status == 201
        lines = []
        while b"event: workload.submitted\n" not in lines:
            lines.append(response.readline())
        data = json.loads(response.readline().decode().removeprefix("data: "))
        assert data["data"]["workload"]["id"] == workload["id"]
        stream.close()

        # The server notices the disconnect and the stream hands its lease back.
        def leases() -> int:
            principal = f"user:{owner.pk}"
            if django_settings.REDIS_URL:
                return wake.redis_client().zcard(slots.KEY_PREFIX + principal)
            return len(slots._local.get(principal, {}))

        deadline = time.monotonic() + 10
        while leases() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert leases() == 0
