"""The operators' console in the Django admin: a staff operator sees their organisation only, the
workload page is a console (no form), and every action goes through the services, the state machine,
the event log and the admin's history."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from tests.accounts.factories import ServiceUserFactory, UserFactory
from tests.scheduling.factories import OutcomeFactory, RecommendationFactory
from tests.workloads.factories import WorkloadFactory
from tests.zones.factories import GridZoneFactory
from workloads.models import ComputeWorkload, Urgency, WorkloadEvent, WorkloadStatus

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/workloads/computeworkload/"
QUEUE = f"{CHANGELIST}queue/"


def page(workload) -> str:
    return f"{CHANGELIST}{workload.pk}/change/"


def act(workload, action: str) -> str:
    return f"{CHANGELIST}{workload.pk}/console/{action}/"


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def owner(organization):
    return UserFactory(organization=organization, email="owner@northwind.example")


@pytest.fixture
def zone():
    return GridZoneFactory(zone_name="Glasgow Grid Cluster")


def in_status(owner, status, zone, **extra):
    now = timezone.now()
    fields = {"status": status, **extra}
    if status != WorkloadStatus.PENDING:
        fields.setdefault("chosen_grid_zone", zone)
        fields.setdefault("planned_start", now)
    if status == WorkloadStatus.RUNNING:
        fields.setdefault("actual_start", now - timedelta(minutes=30))
    return WorkloadFactory(user=owner, **fields)


# -- scoping ---------------------------------------------------------------------------------------


def test_staff_operator_sees_only_their_organisation(operator_console, owner, other_organization):
    foreign = WorkloadFactory(user=UserFactory(organization=other_organization))
    own = WorkloadFactory(user=owner)
    listing = operator_console.get(CHANGELIST).content.decode()
    assert own.job_id in listing and foreign.job_id not in listing
    # Another organisation's workload by direct URL: back to the index, "doesn't exist".
    response = operator_console.get(page(foreign))
    assert (response.status_code, response.url) == (302, "/admin/")
    # ... and its console actions the same, changing nothing.
    response = operator_console.post(act(foreign, "cancel"), {"note": "x"})
    assert (response.status_code, response.url) == (302, "/admin/")
    foreign.refresh_from_db()
    assert foreign.status == WorkloadStatus.PENDING
    assert not LogEntry.objects.exists()


def test_staff_operator_sees_only_their_organisation_users(operator_console, staff_operator, other_organization):
    colleague = UserFactory(organization=staff_operator.organization)
    stranger = UserFactory(organization=other_organization)
    page_text = operator_console.get("/admin/accounts/user/").content.decode()
    assert colleague.email in page_text and stranger.email not in page_text


def test_a_plain_user_is_refused(organization):
    client = Client()
    client.force_login(UserFactory(organization=organization))
    for url in ("/admin/", CHANGELIST, QUEUE):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith("/admin/login/")


def test_the_list_fits_an_operator_and_filters_and_searches(operator_console, owner, zone, organization):
    running = in_status(owner, WorkloadStatus.RUNNING, zone, workload_name="Nightly embeddings")
    other_owner = UserFactory(organization=organization, email="grace@northwind.example")
    pending = WorkloadFactory(user=other_owner, workload_name="Feature backfill")
    listing = operator_console.get(CHANGELIST).content.decode()
    assert "column-organization" not in listing  # one organisation: no column for it
    assert 'class="pylon-badge pylon-badge--active">Running<' in listing
    for label in ("By status", "By urgency", "By chosen grid zone", "By owner", "By submitted at"):
        assert label in listing
    assert zone.zone_name in listing  # the chosen zone, by name
    by_status = operator_console.get(CHANGELIST, {"status__exact": "RUNNING"}).content.decode()
    assert running.job_id in by_status and pending.job_id not in by_status
    by_email = operator_console.get(CHANGELIST, {"q": "grace@northwind"}).content.decode()
    assert pending.job_id in by_email and running.job_id not in by_email
    by_job = operator_console.get(CHANGELIST, {"q": running.job_id}).content.decode()
    assert running.job_id in by_job and pending.job_id not in by_job


def test_the_service_role_sees_the_organisation_column(owner):
    client = Client()
    client.force_login(ServiceUserFactory(is_superuser=True))
    WorkloadFactory(user=owner)
    assert "column-organization" in client.get(CHANGELIST).content.decode()


# -- the workload page -------------------------------------------------------------------------------


def test_the_workload_page_is_a_console_not_a_form(operator_console, owner, zone):
    workload = WorkloadFactory(user=owner, estimated_energy_kwh=Decimal("50"))
    RecommendationFactory(workload=workload, rank=1, zone=zone, expected_emissions_kg=0.03599999999999999)
    RecommendationFactory(workload=workload, rank=2, expected_emissions_kg=3.7302767917699997, carbon_saving_kg=-0.5)
    OutcomeFactory(workload=workload)
    response = operator_console.get(page(workload))
    assert response.status_code == 200
    html = response.content.decode()
    for field in ("workload_name", "user", "deadline", "status", "chosen_grid_zone", "required_gpu_mins"):
        assert f'name="{field}"' not in html
    assert 'name="_save"' not in html and 'name="_continue"' not in html
    assert f"<title>{workload.job_id} · {workload.workload_name}" in html
    # Ranked options, rounded with units, with the buttons to take them.
    assert "36 g" in html and "3.73 kg" in html and "−500 g" in html
    assert "0.03599999999999999" not in html and "3.7302767917699997" not in html
    assert "0.38 · 0.83 · 0.12" in html  # score parts
    assert "Assign #1" in html and "Assign #2" in html
    assert "Timeline" in html and "Submitted" in html
    assert "Start the run" not in html and "Complete the run" not in html  # not possible while PENDING


def test_an_unschedulable_workload_says_why(operator_console, owner):
    workload = WorkloadFactory(user=owner)
    OutcomeFactory(
        workload=workload,
        feasible=False,
        constraint="CARBON_CAP",
        message="Carbon cap 500 g is below the lowest expected emissions 812 g.",
    )
    html = operator_console.get(page(workload)).content.decode()
    assert "Cannot be scheduled — The carbon cap cannot be met." in html
    assert "Carbon cap 500 g is below the lowest expected emissions 812 g." in html


def test_the_page_offers_what_the_state_machine_allows_now(operator_console, owner, zone):
    running = in_status(owner, WorkloadStatus.RUNNING, zone)
    html = operator_console.get(page(running)).content.decode()
    assert "Complete the run" in html and "Mark failed" in html and "Cancel the workload" in html
    assert "Assign to a zone" not in html and "Start the run" not in html
    completed = in_status(owner, WorkloadStatus.COMPLETED, zone)
    html = operator_console.get(page(completed)).content.decode()
    assert "What you can do now" not in html


# -- actions -----------------------------------------------------------------------------------------

ACTIONS = [
    # (from status, console action, form data, to status, event action)
    (WorkloadStatus.PENDING, "assign-rank", {"rank": "1", "note": "Greenest."}, WorkloadStatus.SCHEDULED, "assign"),
    (WorkloadStatus.SCHEDULED, "assign-rank", {"rank": "1", "reassign": "on"}, WorkloadStatus.SCHEDULED, "reassign"),
    (WorkloadStatus.PENDING, "assign-zone", {"reason": "Customer asked."}, WorkloadStatus.SCHEDULED, "assign"),
    (
        WorkloadStatus.SCHEDULED,
        "assign-zone",
        {"reason": "Maintenance.", "reassign": "on"},
        WorkloadStatus.SCHEDULED,
        "reassign",
    ),
    (WorkloadStatus.SCHEDULED, "start", {"note": "Go."}, WorkloadStatus.RUNNING, "start"),
    (
        WorkloadStatus.RUNNING,
        "complete",
        {"measured_energy_kwh": "12.5", "note": "Metered."},
        WorkloadStatus.COMPLETED,
        "complete",
    ),
    (WorkloadStatus.RUNNING, "fail", {"note": "Node lost."}, WorkloadStatus.FAILED, "fail"),
    (WorkloadStatus.SCHEDULED, "cancel", {"note": "Not needed."}, WorkloadStatus.CANCELLED, "cancel"),
]


@pytest.mark.parametrize(("from_status", "action", "data", "to_status", "event_action"), ACTIONS)
def test_each_action_goes_through_the_services_and_is_recorded(
    operator_console, staff_operator, owner, zone, from_status, action, data, to_status, event_action
):
    workload = in_status(owner, from_status, GridZoneFactory())
    RecommendationFactory(workload=workload, rank=1, zone=zone)
    if action == "assign-zone":
        data = {**data, "zone": str(zone.pk)}
    response = operator_console.post(act(workload, action), data)
    assert response.status_code == 302 and response.url == page(workload)
    workload.refresh_from_db()
    assert workload.status == to_status
    event = WorkloadEvent.objects.filter(workload=workload).latest("id")
    assert (event.action, event.actor, event.to_status) == (event_action, staff_operator, to_status)
    note = data.get("note") or data.get("reason") or ""
    assert note in event.note
    entry = LogEntry.objects.get()
    assert (entry.user, entry.action_flag, entry.object_id) == (staff_operator, CHANGE, str(workload.pk))
    assert entry.object_repr == str(workload)  # the job id and name, never a UUID
    assert note in entry.get_change_message()
    (message,) = messages_of(response)
    assert message.startswith(f"{workload.job_id} {workload.workload_name}: ")
    if action.startswith("assign"):
        assert workload.chosen_grid_zone == zone and zone.zone_name in message
    if action == "complete":
        assert workload.actual_energy_kwh == Decimal("12.5")
        assert workload.carbon_emitted_kg is not None and "12.50 kWh" in message


@pytest.mark.parametrize(
    ("status", "action", "data", "why"),
    [
        (WorkloadStatus.PENDING, "start", {}, "Cannot start a workload that is PENDING; it must be SCHEDULED."),
        (WorkloadStatus.COMPLETED, "cancel", {}, "Cannot cancel a workload that is COMPLETED"),
        (WorkloadStatus.RUNNING, "assign-rank", {"rank": "1"}, "Cannot assign a workload that is RUNNING"),
        (WorkloadStatus.PENDING, "assign-rank", {"rank": "2"}, "This workload has no recommendation #2"),
        (WorkloadStatus.PENDING, "assign-zone", {"zone": str(uuid.uuid4()), "reason": "x"}, "Zone: Select a valid"),
        (WorkloadStatus.PENDING, "assign-zone", {"zone": "not-a-zone"}, "Why override the recommendations: This"),
        (WorkloadStatus.RUNNING, "complete", {"measured_energy_kwh": "-1"}, "Measured energy (kWh): Ensure"),
        (WorkloadStatus.PENDING, "teleport", {}, "Use the buttons on the workload's page."),
    ],
)
def test_a_refused_action_says_why_and_changes_nothing(operator_console, owner, zone, status, action, data, why):
    workload = in_status(owner, status, zone)
    RecommendationFactory(workload=workload, rank=1, zone=zone)
    before = WorkloadEvent.objects.count()
    response = operator_console.post(act(workload, action), data)
    assert response.status_code == 302
    (message,) = messages_of(response)
    assert why in message
    refreshed = ComputeWorkload.objects.get(pk=workload.pk)
    assert refreshed.status == status
    assert WorkloadEvent.objects.count() == before
    assert not LogEntry.objects.exists()


def test_a_console_action_is_post_only(operator_console, owner):
    workload = WorkloadFactory(user=owner)
    response = operator_console.get(act(workload, "cancel"))
    assert response.status_code == 302
    workload.refresh_from_db()
    assert workload.status == WorkloadStatus.PENDING


# -- the queue and the list's actions ---------------------------------------------------------------


def test_the_queue_lists_pending_workloads_most_urgent_first(operator_console, owner, zone, other_organization):
    now = timezone.now()
    low = WorkloadFactory(user=owner, urgency=Urgency.LOW, deadline=now + timedelta(hours=5))
    critical = WorkloadFactory(user=owner, urgency=Urgency.CRITICAL, deadline=now + timedelta(days=2))
    high_late = WorkloadFactory(user=owner, urgency=Urgency.HIGH, deadline=now + timedelta(days=1))
    high_soon = WorkloadFactory(user=owner, urgency=Urgency.HIGH, deadline=now + timedelta(hours=4))
    RecommendationFactory(workload=high_soon, rank=1, zone=zone, carbon_saving_kg=1.25, cost_saving_gbp=0.5)
    in_status(owner, WorkloadStatus.SCHEDULED, zone)
    foreign = WorkloadFactory(user=UserFactory(organization=other_organization), urgency=Urgency.CRITICAL)
    response = operator_console.get(QUEUE)
    assert response.status_code == 200
    html = response.content.decode()
    positions = [html.index(w.job_id) for w in (critical, high_soon, high_late, low)]
    assert positions == sorted(positions)
    assert foreign.job_id not in html
    assert "4 pending workloads" in html
    assert "1 h 59 min" in html or "2 h" in html  # slack of high_soon: 4 h to the deadline less a 2 h run
    assert f"{zone.zone_name}, " in html and "1.25 kg CO2" in html and "£0.50" in html
    assert "Assign #1" in html


def test_one_click_assign_from_the_queue_returns_to_the_queue(operator_console, owner, zone):
    workload = WorkloadFactory(user=owner)
    RecommendationFactory(workload=workload, rank=1, zone=zone)
    response = operator_console.post(act(workload, "assign-rank"), {"rank": "1", "next": QUEUE})
    assert response.url == QUEUE
    workload.refresh_from_db()
    assert workload.status == WorkloadStatus.SCHEDULED


def test_bulk_assign_takes_each_top_recommendation(operator_console, staff_operator, owner, zone):
    first, second = WorkloadFactory(user=owner), WorkloadFactory(user=owner)
    running = in_status(owner, WorkloadStatus.RUNNING, zone)
    for workload in (first, second):
        RecommendationFactory(workload=workload, rank=1, zone=zone)
    response = operator_console.post(
        CHANGELIST,
        {
            "action": "assign_top_recommendation",
            "index": "0",
            "_selected_action": [str(first.pk), str(second.pk), str(running.pk)],
            "next": QUEUE,
        },
    )
    assert response.status_code == 302 and response.url == QUEUE
    assert set(ComputeWorkload.objects.filter(status=WorkloadStatus.SCHEDULED).values_list("pk", flat=True)) == {
        first.pk,
        second.pk,
    }
    assert LogEntry.objects.filter(user=staff_operator).count() == 2
    text = " ".join(messages_of(response))
    # A running workload is refused for what it is, not for "no recommendation".
    assert f"{running}: Cannot assign a workload that is RUNNING" in text
    assert "2 workload(s) assigned." in text


@pytest.mark.parametrize("tampered", ["foreign", "malformed"])
def test_a_tampered_id_in_a_list_action_is_refused_with_a_message(
    operator_console, owner, other_organization, tampered
):
    own = WorkloadFactory(user=owner)
    foreign = WorkloadFactory(user=UserFactory(organization=other_organization))
    bad = str(foreign.pk) if tampered == "foreign" else "1 OR 1=1"
    response = operator_console.post(
        CHANGELIST, {"action": "cancel_workloads", "index": "0", "_selected_action": [str(own.pk), bad]}
    )
    assert response.status_code == 302
    (message,) = messages_of(response)
    assert "Nothing was changed: 1 selected id(s) are not workloads you may act on" in message
    assert set(ComputeWorkload.objects.values_list("status", flat=True)) == {WorkloadStatus.PENDING}
    assert not LogEntry.objects.exists()


@pytest.mark.parametrize("url", [CHANGELIST, QUEUE, "/admin/"])
def test_the_console_pages_make_a_fixed_number_of_queries(operator_console, owner, zone, url):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def add(count):
        for _ in range(count):
            workload = WorkloadFactory(user=owner)
            RecommendationFactory(workload=workload, rank=1, zone=zone)
            OutcomeFactory(workload=workload)
            in_status(owner, WorkloadStatus.RUNNING, zone)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert operator_console.get(url).status_code == 200
        return len(captured)

    add(3)
    few = queries()
    add(6)
    assert queries() == few
