"""Batch upload: JSON and CSV, per-row errors, modes, dry runs, hostile files, bulk saving, one task."""

import json
from datetime import timedelta
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from conftest import WRITE_REQUEST_OVERHEAD_QUERIES, client_for
from outbox.models import EventType, OutboxEvent
from tests.accounts.factories import UserFactory
from tests.zones.factories import GridZoneFactory
from workloads.models import ComputeWorkload, WorkloadEvent

pytestmark = pytest.mark.django_db

BATCH = "/api/v1/workloads/batch/"
TEMPLATE = "/api/v1/workloads/batch/template.csv"


@pytest.fixture
def zone(db):
    return GridZoneFactory(grid_zone_code="UK-LONDON-01")


def row(zone, **overrides):
    return {
        "workload_name": "Render",
        "host_dc": str(zone.id),
        "required_gpu_mins": "60",
        "deadline": (timezone.now() + timedelta(days=1)).isoformat(),
        **overrides,
    }


def post_json(user, rows, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return client_for(user).post(f"{BATCH}?{query}", rows, format="json")


def post_csv(user, text: str | bytes, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    body = text.encode() if isinstance(text, str) else text
    return client_for(user).generic("POST", f"{BATCH}?{query}", body, content_type="text/csv")


def csv_text(zone, lines: int = 2, newline: str = "\n") -> str:
    deadline = (timezone.now() + timedelta(days=1)).isoformat()
    header = "workload_name,host_dc,required_gpu_mins,deadline,is_deferrable"
    body = [f"Job {n},{zone.grid_zone_code},30,{deadline},TRUE" for n in range(lines)]
    return newline.join([header, *body]) + newline


class TestJSON:
    def test_all_rows_saved_with_one_submit_event_each(self, user, zone):
        response = post_json(user, [row(zone), row(zone, host_dc=zone.grid_zone_code, urgency="HIGH")])
        assert response.status_code == 201, response.json()
        body = response.json()
        assert (body["received"], body["valid"], body["created"], body["errors"]) == (2, 2, 2, [])
        assert [w["row"] for w in body["workloads"]] == [1, 2]
        saved = ComputeWorkload.objects.filter(user=user)
        assert saved.count() == 2 and set(saved.values_list("organization", flat=True)) == {user.organization_id}
        assert WorkloadEvent.objects.filter(workload__in=saved, action="submit").count() == 2
        assert saved.get(urgency="HIGH").estimated_duration_mins == 60  # the single submit's default

    def test_every_error_of_every_row_all_or_nothing(self, user, zone):
        rows = [
            row(zone),
            row(zone, workload_name="", required_gpu_mins="-1"),
            row(zone, host_dc="UK-NOWHERE"),
            row(zone, status="COMPLETED"),
            row(zone, deadline=(timezone.now() + timedelta(minutes=10)).isoformat(), estimated_duration_mins=60),
            "not an object",
        ]
        response = post_json(user, rows)
        assert response.status_code == 400
        body = response.json()
        assert body["code"] == "validation_error"
        assert body["message"] == "5 of 6 rows are invalid; nothing was saved."
        assert set(body["fields"]) == {
            "rows.2.workload_name",
            "rows.2.required_gpu_mins",
            "rows.3.host_dc",
            "rows.4.status",
            "rows.5.deadline",  # the service's timing rule, as for a single submit
            "rows.6.non_field_errors",
        }
        assert body["fields"]["rows.3.host_dc"][0]["code"] == "does_not_exist"
        assert not ComputeWorkload.objects.exists() and not WorkloadEvent.objects.exists()

    def test_partial_saves_the_valid_rows_and_lists_the_rest(self, user, zone):
        response = post_json(user, [row(zone, workload_name=""), row(zone), row(zone, urgency="SOON")], mode="partial")
        assert response.status_code == 201
        body = response.json()
        assert (body["received"], body["valid"], body["created"]) == (3, 1, 1)
        assert [(e["row"], e["field"], e["code"]) for e in body["errors"]] == [
            (1, "workload_name", "blank"),
            (3, "urgency", "invalid_choice"),
        ]
        assert body["workloads"][0]["row"] == 2
        assert ComputeWorkload.objects.count() == 1

    def test_dry_run_saves_nothing(self, user, zone):
        response = post_json(user, [row(zone), row(zone, workload_name="")], dry_run="true")
        assert response.status_code == 200
        body = response.json()
        assert (body["valid"], body["created"], len(body["errors"])) == (1, 0, 1)
        assert not ComputeWorkload.objects.exists()

    def test_the_service_role_cannot_submit(self, service_user, zone):
        assert post_json(service_user, [row(zone)]).status_code == 403

    def test_an_unverified_user_cannot_submit_and_is_told_why(self, organization, zone):
        unverified = UserFactory(organization=organization, email_verified_at=None)
        response = post_json(unverified, [row(zone)])
        assert response.status_code == 403
        assert response.json()["code"] == "email_not_verified"
        assert not ComputeWorkload.objects.exists()

    @pytest.mark.parametrize("body", [[], {"rows": []}, "text"])
    def test_not_an_array_or_empty_is_400(self, user, body):
        response = post_json(user, body)
        assert response.status_code == 400
        assert list(response.json()["fields"]) == ["non_field_errors"]

    def test_too_many_rows(self, user, zone, settings):
        settings.BATCH_UPLOAD_MAX_ROWS = 3
        response = post_json(user, [row(zone)] * 4)
        assert response.status_code == 400
        assert response.json()["fields"]["non_field_errors"][0]["code"] == "max_rows"
        assert not ComputeWorkload.objects.exists()

    def test_5000_rows_larger_than_other_bodies_may_be_are_read(self, user, zone, settings):
        body = [row(zone, workload_name=f"Render {n:04d} " + "x" * 100) for n in range(5000)]
        assert len(json.dumps(body)) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        response = post_json(user, body, dry_run="true")
        assert response.status_code == 200, response.json()
        assert response.json()["valid"] == 5000

    def test_too_large_is_413(self, user, zone, settings):
        settings.BATCH_UPLOAD_MAX_BYTES = 500
        response = post_json(user, [row(zone)] * 5)
        assert response.status_code == 413 and response.json()["code"] == "payload_too_large"


class TestCSV:
    def test_a_spreadsheet_file_with_bom_and_crlf(self, user, zone):
        text = "\ufeff" + csv_text(zone, lines=3, newline="\r\n")
        response = post_csv(user, text)
        assert response.status_code == 201, response.json()
        assert response.json()["created"] == 3
        assert set(ComputeWorkload.objects.values_list("host_dc", flat=True)) == {zone.id}

    def test_multipart_file(self, user, zone):
        upload = SimpleUploadedFile("jobs.csv", csv_text(zone, lines=2).encode(), content_type="text/csv")
        response = client_for(user).post(BATCH, {"file": upload}, format="multipart")
        assert response.status_code == 201, response.json()
        assert response.json()["created"] == 2

    def test_multipart_without_the_file_or_with_other_fields_is_400(self, user, zone):
        upload = SimpleUploadedFile("jobs.csv", csv_text(zone).encode(), content_type="text/csv")
        client = client_for(user)
        other = client.post(BATCH, {"file": upload, "mode": "partial"}, format="multipart")
        assert other.status_code == 400 and list(other.json()["fields"]) == ["mode"]
        missing = client.post(BATCH, {"name": "x"}, format="multipart")
        assert missing.status_code == 400 and list(missing.json()["fields"]) == ["name"]
        assert not ComputeWorkload.objects.exists()

    def test_exactly_5000_rows_are_accepted(self, user, zone):
        response = post_csv(user, csv_text(zone, lines=5000), dry_run="true")
        assert response.status_code == 200, response.json()
        assert response.json()["valid"] == 5000

    def test_empty_cells_take_the_defaults_and_row_errors_carry_their_row(self, user, zone):
        text = "workload_name,host_dc,urgency,deadline\nA,UK-LONDON-01,,\nB,UK-LONDON-01,LATER,\n"
        response = post_csv(user, text, mode="partial")
        body = response.json()
        assert body["created"] == 1 and body["errors"][0]["row"] == 2 and body["errors"][0]["field"] == "urgency"
        assert ComputeWorkload.objects.get().urgency == "MEDIUM"

    @pytest.mark.parametrize(
        "content,code",
        [
            (b"", "empty"),
            (b"\xef\xbb\xbf\r\n\r\n", "empty"),
            (b"workload_name,host_dc\n", "empty"),
            ("workload_name,host_dc\nCaf\xe9,X\n".encode("latin-1"), "encoding"),
            (b"workload_name,host_dc\nA,B,C\n", "ragged"),
            (b"workload_name,host_dc\nA\n", "ragged"),
            (b"workload_name,host_dc,colour\nA,B,red\n", "unknown_column"),
            (b"workload_name,host_dc,host_dc\nA,B,C\n", "duplicate_column"),
            (b"workload_name,urgency\nA,LOW\n", "missing_column"),
            (b'workload_name,host_dc\n"A"x,B\n', "csv"),
            (b'workload_name,host_dc\n"A,B\n', "csv"),
            (b"workload_name,host_dc\nA\x00,B\n", "encoding"),
        ],
    )
    def test_hostile_files_are_400s_that_save_nothing(self, user, zone, content, code):
        for mode in ("all_or_nothing", "partial"):
            response = post_csv(user, content, mode=mode)
            assert response.status_code == 400, response.content
            problems = response.json()["fields"]
            assert list(problems) == ["file"] and problems["file"][0]["code"] == code
        assert not ComputeWorkload.objects.exists()

    def test_5001_rows_are_refused(self, user, zone):
        response = post_csv(user, csv_text(zone, lines=5001))
        assert response.status_code == 400
        assert response.json()["fields"]["file"][0]["code"] == "max_rows"
        assert not ComputeWorkload.objects.exists()

    def test_the_template_is_a_valid_upload(self, user, zone):
        response = client_for(user).get(TEMPLATE)
        assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
        text = b"".join(response.streaming_content).decode()
        assert text.splitlines()[0].startswith("workload_name,workload_type,urgency,host_dc,")
        assert "UK-LONDON-01" in text
        upload = post_csv(user, text)
        assert upload.status_code == 201, upload.json()


@pytest.mark.parametrize("rows", [5, 30])
def test_bounded_queries_whatever_the_rows(user, zone, django_assert_num_queries, rows):
    client = client_for(user)
    other_zone = GridZoneFactory()
    body = [row(zone if n % 2 else other_zone) for n in range(rows)]
    # zones; the service's savepoint, the insert's savepoint, workloads, events; the outbox's events
    # (after its order lock on PostgreSQL); the re-read check
    with django_assert_num_queries(WRITE_REQUEST_OVERHEAD_QUERIES + 9 + (connection.vendor == "postgresql")):
        response = client.post(BATCH, body, format="json")
    assert response.status_code == 201 and response.json()["created"] == rows


def test_a_large_batch_makes_a_few_queries_not_one_per_row(user, zone):
    from django.test.utils import CaptureQueriesContext

    client = client_for(user)
    with CaptureQueriesContext(connection) as queries:
        response = client.post(BATCH, [row(zone) for _ in range(1500)], format="json")
    assert response.json()["created"] == 1500
    # Inserts go in chunks (500 rows on PostgreSQL, 32 under SQLite's 999-parameter cap): 2 × 47 at most;
    # the outbox's events in chunks of 1,000 (90 under SQLite's cap): 17 at most, and its order lock.
    assert len(queries) <= WRITE_REQUEST_OVERHEAD_QUERIES + 8 + 2 * 47 + 17 + 1


def test_one_scheduling_task_for_the_whole_batch(user, zone, django_capture_on_commit_callbacks):
    patched = mock.patch("scheduling.tasks.recommend_workloads.delay")
    with patched as delay, django_capture_on_commit_callbacks(execute=True):
        response = post_json(user, [row(zone) for _ in range(7)])
    assert response.status_code == 201
    # One workload.submitted event per workload, all handled; only the batch's first starts a task.
    ids = [w["id"] for w in response.json()["workloads"]]
    events = OutboxEvent.objects.filter(type=EventType.WORKLOAD_SUBMITTED).order_by("id")
    assert sorted(str(e.subject_id) for e in events) == sorted(ids)
    assert all(e.handled_at is not None for e in events)
    assert [e.payload["batch"]["index"] for e in events] == list(range(7))
    assert delay.call_count == 1
    assert sorted(delay.call_args.kwargs["workload_ids"]) == sorted(ids)


def test_another_users_rows_never_leak(user, zone):
    stranger = UserFactory()
    post_json(stranger, [row(zone)])
    body = post_json(user, [row(zone)]).json()
    assert [w["id"] for w in body["workloads"]] == [str(ComputeWorkload.objects.get(user=user).id)]
