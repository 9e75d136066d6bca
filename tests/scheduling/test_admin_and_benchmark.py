from io import StringIO

import pytest
from django.contrib.admin.sites import site
from django.core.management import call_command
from django.test import RequestFactory

from notifications.models import Notification
from scheduling import recompute
from scheduling.models import Recommendation, SchedulingOutcome, SchedulingPolicy
from tests.accounts.factories import OperatorFactory, UserFactory
from tests.notifications.factories import NotificationFactory
from tests.scheduling.factories import PolicyFactory, WorkloadFactory
from workloads.models import ComputeWorkload

pytestmark = pytest.mark.django_db


def _request(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def _admin_queryset(model, user):
    return site._registry[model].get_queryset(_request(user))


def test_admin_shows_operators_their_organisation_only(grid_zones, user, operator, other_organization, service_user):
    stranger = UserFactory(organization=other_organization)
    mine = WorkloadFactory(user=user, host_dc=grid_zones["dirty"])
    theirs = WorkloadFactory(user=stranger, host_dc=grid_zones["dirty"])
    recompute.recommendations_compute(workload_ids=[mine.pk, theirs.pk])
    PolicyFactory(organization=user.organization)
    PolicyFactory(organization=other_organization)
    NotificationFactory(recipient=user)
    NotificationFactory(recipient=stranger)

    assert {r.workload_id for r in _admin_queryset(Recommendation, operator)} == {mine.pk}
    assert {o.workload_id for o in _admin_queryset(SchedulingOutcome, operator)} == {mine.pk}
    assert {p.organization_id for p in _admin_queryset(SchedulingPolicy, operator)} == {user.organization_id}
    # Notifications are personal: the admin shows them to the service role only.
    notification_admin = site._registry[Notification]
    assert not notification_admin.has_view_permission(_request(operator))
    assert notification_admin.has_view_permission(_request(service_user))
    other_operator = OperatorFactory(organization=other_organization)
    assert {r.workload_id for r in _admin_queryset(Recommendation, other_operator)} == {theirs.pk}
    assert _admin_queryset(Recommendation, service_user).count() == Recommendation.objects.count()


def test_the_admin_changelists_render(admin_client, grid_zones, user):
    workload = WorkloadFactory(user=user, host_dc=grid_zones["dirty"])
    recompute.recommendations_compute(workload_ids=[workload.pk])
    NotificationFactory(recipient=user)
    PolicyFactory(organization=user.organization)
    for path in (
        "scheduling/recommendation",
        "scheduling/schedulingoutcome",
        "notifications/notification",
        "scheduling/schedulingpolicy",
    ):
        assert admin_client.get(f"/admin/{path}/").status_code == 200


def test_the_benchmark_command_prints_its_figures_and_keeps_nothing(db, monkeypatch):
    monkeypatch.delenv("PYLON_SHARED_DATA", raising=False)  # only what ships in the repository
    out = StringIO()
    call_command("benchmark_scheduling", "--workloads", "40", "--db-workloads", "60", stdout=out)
    text = out.getvalue()
    assert "host best window (SDK)" in text and "oracle" in text
    assert "Perfect forecasts, free capacity: Pylon made the oracle's choice" in text
    assert "ratio first / bare" in text
    assert not ComputeWorkload.objects.exists()
    assert not Recommendation.objects.exists()


def test_a_named_shared_folder_without_traces_is_an_error_not_a_silent_fallback(db, monkeypatch, tmp_path):
    from django.core.management.base import CommandError

    monkeypatch.setenv("PYLON_SHARED_DATA", str(tmp_path))
    with pytest.raises(CommandError, match="PYLON_SHARED_DATA"):
        call_command("benchmark_scheduling", stdout=StringIO())


def test_a_refused_policy_change_shows_on_the_admin_form(organization):
    from django.test import Client

    from accounts.services import operator_grant_admin_access

    operator = operator_grant_admin_access(user=OperatorFactory(organization=organization))
    policy = PolicyFactory(organization=organization, preset="CARBON_FIRST", carbon_weight=1, price_weight=0)
    client = Client()
    client.force_login(operator)
    response = client.post(
        f"/admin/scheduling/schedulingpolicy/{policy.pk}/change/",
        {"preset": "BALANCED", "carbon_weight": "5", "price_weight": "0", "wait_weight": "0"},
    )
    assert response.status_code == 200  # the form again, with the error; not a redirect after "saved"
    assert "choose CUSTOM to set weights" in response.content.decode()
    policy.refresh_from_db()
    assert (policy.preset, policy.carbon_weight) == ("CARBON_FIRST", 1)
