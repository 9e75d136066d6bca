"""``GET /api/v1/workloads/export/?format=csv``: scoped, filtered, streamed, safe in spreadsheets."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import resolve
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from pylon.api import csv as pylon_csv
from pylon.api.csv import CSVDownloadNegotiation
from tests.accounts.factories import UserFactory
from tests.workloads.factories import WorkloadFactory
from tests.zones.factories import GridZoneFactory
from workloads.api.exports import HEADER

pytestmark = pytest.mark.django_db

EXPORT = "/api/v1/workloads/export/?format=csv"


def download(response) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="workloads-')
    text = b"".join(response.streaming_content).decode("utf-8")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    assert tuple(reader.fieldnames) == HEADER
    return list(reader)


def test_the_header_row_and_one_accounted_workload(make_client, user):
    host, chosen = GridZoneFactory(grid_zone_code="UK-HOST"), GridZoneFactory(grid_zone_code="UK-GREEN")
    workload = WorkloadFactory(
        user=user,
        host_dc=host,
        status="COMPLETED",
        chosen_grid_zone=chosen,
        workload_name="Nightly fine-tune, “v2”",
        actual_energy_kwh=Decimal("10.500"),
        carbon_emitted_kg=Decimal("1.2500"),
        baseline_carbon_kg=Decimal("3.0000"),
        cost_gbp=Decimal("2.0000"),
        baseline_cost_gbp=Decimal("1.5000"),
    )
    [row] = download(make_client(user).get(EXPORT))
    assert row["job_id"] == workload.job_id and row["id"] == str(workload.id)
    assert row["workload_name"] == "Nightly fine-tune, “v2”"  # UTF-8 and quoting survive
    assert (row["host_zone"], row["chosen_zone"]) == ("UK-HOST", "UK-GREEN")
    assert row["owner_email"] == user.email
    assert row["carbon_saved_kg"] == "1.7500" and row["cost_saved_gbp"] == "-0.5000"  # a number, not neutralised
    assert row["actual_energy_kwh"] == "10.500"
    assert row["actual_start"] == "" and row["submitted_at"].endswith("Z")


def test_a_user_gets_their_own_rows_and_an_operator_their_organisations(make_client, user, operator):
    mine = WorkloadFactory(user=user)
    colleague = WorkloadFactory(user=UserFactory(organization=user.organization))
    WorkloadFactory()  # another organisation's
    assert {row["id"] for row in download(make_client(user).get(EXPORT))} == {str(mine.id)}
    assert {row["id"] for row in download(make_client(operator).get(EXPORT))} == {str(mine.id), str(colleague.id)}


def test_the_lists_filters_and_search_apply(make_client, user):
    zone = GridZoneFactory()
    done = WorkloadFactory(user=user, status="COMPLETED", chosen_grid_zone=zone, workload_name="alpha")
    WorkloadFactory(user=user, workload_name="beta")
    old = WorkloadFactory(user=user, workload_name="alpha old")
    old.submitted_at = timezone.now() - timedelta(days=40)
    old.save()
    client = make_client(user)
    assert [row["id"] for row in download(client.get(f"{EXPORT}&status=COMPLETED"))] == [str(done.id)]
    assert {row["id"] for row in download(client.get(f"{EXPORT}&search=alpha"))} == {str(done.id), str(old.id)}
    since = (timezone.now() - timedelta(days=7)).isoformat().replace("+", "%2B")
    assert str(old.id) not in {row["id"] for row in download(client.get(f"{EXPORT}&submitted_after={since}"))}
    ordered = download(client.get(f"{EXPORT}&ordering=submitted_at"))
    assert ordered[0]["id"] == str(old.id)


@pytest.mark.parametrize("dangerous", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_are_neutralised(make_client, user, dangerous):
    WorkloadFactory(user=user, workload_name=dangerous)
    [row] = download(make_client(user).get(EXPORT))
    assert row["workload_name"] == f"'{dangerous}"


def test_bad_input_is_a_json_400(make_client, user):
    client = make_client(user)
    response = client.get(f"{EXPORT}&status=ASLEEP")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "status" in response.json()["fields"]
    response = client.get("/api/v1/workloads/export/?format=xlsx")
    assert response.status_code == 400 and "format" in response.json()["fields"]


def test_without_a_format_the_file_is_csv_and_anonymous_callers_get_a_json_401(make_client, api_client, user):
    WorkloadFactory(user=user)
    assert len(download(make_client(user).get("/api/v1/workloads/export/"))) == 1
    response = api_client.get(EXPORT)
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"


def test_rows_are_read_and_sent_in_chunks(make_client, user, settings, monkeypatch, django_assert_max_num_queries):
    """Constant memory: the rows come from the database a chunk at a time and leave in chunks;
    nothing holds the whole file."""
    settings.EXPORT_CHUNK_ROWS = 7
    monkeypatch.setattr(pylon_csv, "CHUNK_BYTES", 512)
    WorkloadFactory.create_batch(40, user=user)
    response = make_client(user).get(EXPORT)
    chunks = list(response.streaming_content)
    assert len(chunks) > 5
    assert sum(chunk.count(b"\r\n") for chunk in chunks) == 41  # header + 40 rows


def test_a_chunked_read_does_not_load_every_row(user, settings):
    """The rows generator pulls from the database lazily, ``EXPORT_CHUNK_ROWS`` at a time."""
    from workloads.api.exports import workload_export_rows
    from workloads.selectors import workload_list

    settings.EXPORT_CHUNK_ROWS = 5
    WorkloadFactory.create_batch(12, user=user)
    rows = workload_export_rows(workload_list(fetched_by=user))
    first = next(rows)
    assert first[0].startswith("JOB-TEST-")
    assert len(list(rows)) == 11


def _csv_download_routes():
    """Every operation whose success body is ``text/csv``, from the generated schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if "text/csv" in operation.get("responses", {}).get("200", {}).get("content", {}):
                yield path, method


def test_every_csv_download_answers_its_errors_through_the_one_negotiation():
    """The rule "a CSV download's errors are JSON in the one error format" has one home."""
    routes = list(_csv_download_routes())
    assert len(routes) >= 3
    for path, method in routes:
        match = resolve(path)
        view = match.func
        negotiation = view.initkwargs.get("content_negotiation_class", view.cls.content_negotiation_class)
        assert negotiation is CSVDownloadNegotiation, (path, method)


@pytest.mark.parametrize(
    "query, body",
    [
        (
            "?format=xlsx",
            b'{"code":"validation_error","message":"Invalid input: format.","fields":{"format":[{"code":"invalid",'
            b'"message":"Unknown format: this endpoint offers `csv`."}]}}',
        ),
        (
            "?format=csv&status=ASLEEP",
            b'{"code":"validation_error","message":"Invalid input: status.","fields":{"status":[{"code":'
            b'"invalid_choice","message":"Select a valid choice. ASLEEP is not one of the available choices."}]}}',
        ),
    ],
)
def test_an_error_is_the_same_json_whatever_the_caller_accepts(make_client, user, query, body):
    client = make_client(user)
    for accept in ("application/json", "text/csv", "*/*"):
        response = client.get(f"/api/v1/workloads/export/{query}", HTTP_ACCEPT=accept)
        assert (response.status_code, response["Content-Type"], response.content) == (400, "application/json", body)


def test_an_empty_format_is_the_default_csv(make_client, user):
    WorkloadFactory(user=user)
    assert len(download(make_client(user).get("/api/v1/workloads/export/?format="))) == 1
