"""The service around the API: health, docs, demo data, deploy checks."""

import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import Organization, Role, User
from workloads.models import ComputeWorkload, WorkloadStatus
from zones.models import GridZone

pytestmark = pytest.mark.django_db


def test_healthz_reports_database_and_broker(api_client, settings):
    response = api_client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["checks"]["database"] == "ok"
    expected_broker = "eager" if settings.CELERY_TASK_ALWAYS_EAGER else "ok"
    assert body["checks"]["broker"] == expected_broker


def test_healthz_is_503_when_the_broker_is_down(api_client):
    from tests.reliability.faults import broker_at, closed_port

    with broker_at(f"redis://127.0.0.1:{closed_port()}/0"):
        response = api_client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "checks": {"database": "ok", "broker": "error", "outbox": "ok"}}


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_docs_are_served_offline_from_the_sidecar(api_client, path):
    response = api_client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert "drf_spectacular_sidecar" in html or "/api/redoc/redoc.standalone.js" in html
    assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html


def test_schema_is_served(api_client):
    response = api_client.get("/api/schema/?format=json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "Pylon API"


def test_seed_demo_is_idempotent():
    call_command("seed_demo", stdout=open("/dev/null", "w"))

    def counts():
        return [model.objects.count() for model in (Organization, User, GridZone, ComputeWorkload)]

    before = counts()
    printed = StringIO()
    call_command("seed_demo", stdout=printed)
    assert counts() == before
    # The service superuser is the service role, not a USER (as the login table used to say).
    roles = {line.split()[-1]: line.split()[-2] for line in printed.getvalue().splitlines() if "@" in line}
    assert roles["admin@pylon.example"] == "SERVICE"
    assert (roles["ops@northwind.example"], roles["ada@northwind.example"]) == ("OPERATOR", "USER")
    assert GridZone.objects.count() == 14
    assert sorted(GridZone.objects.values_list("neso_region_id", flat=True)) == list(range(1, 15))
    for slug in ("northwind", "bramble"):
        members = User.objects.filter(organization__slug=slug)
        assert members.filter(role=Role.OPERATOR).count() == 1
        assert members.filter(role=Role.USER).count() == 2
    assert User.objects.get(email="ops@northwind.example").check_password("pylon-demo-2026")
    statuses = set(ComputeWorkload.objects.values_list("status", flat=True))
    assert statuses == set(WorkloadStatus.values)
    completed = ComputeWorkload.objects.filter(status=WorkloadStatus.COMPLETED)
    assert all(w.carbon_emitted_kg is not None and w.actual_end > w.actual_start for w in completed)


def test_demo_operator_signs_in(api_client):
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    response = api_client.post("/api/v1/auth/token/", {"email": "ops@northwind.example", "password": "pylon-demo-2026"})
    assert response.status_code == 200


def test_check_deploy_refuses_development_secrets(tmp_path):
    """`check --deploy` fails with the built-in development keys."""
    env = {"PATH": "/usr/bin:/bin", "DEBUG": "false", "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "ERROR"],
        env=env,
        capture_output=True,
        text=True,
        cwd=str(pytest.importorskip("django.conf").settings.BASE_DIR),
    )
    assert result.returncode != 0
    assert "pylon.E001" in result.stderr and "pylon.E002" in result.stderr
