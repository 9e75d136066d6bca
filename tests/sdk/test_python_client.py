"""The Python client generated from ``openapi.yaml`` drives the live server without losing data.

An SDK round trip found a rename through ``PatchedWorkloadInputRequest`` resetting urgency, type and
resources to the schema's defaults, and a two-status filter returning one status: both are checked
here through the generated code itself, over HTTP, against the real server.
"""

from __future__ import annotations

import importlib
from datetime import timedelta
from decimal import Decimal

import pytest
from django.forms.models import model_to_dict
from django.utils import timezone

from tests.accounts.factories import UserFactory
from tests.workloads.factories import WorkloadFactory
from tests.zones.factories import GridZoneFactory
from workloads.models import ComputeWorkload

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a-long-test-password-9"


@pytest.fixture
def sdk_client(python_sdk, live_server):
    """An authenticated generated client, signed in through the generated token call."""
    user = UserFactory()
    user.set_password(PASSWORD)
    user.save()
    api = importlib.import_module("pylon_sdk.api.auth.auth_token_obtain")
    models = importlib.import_module("pylon_sdk.models")
    anonymous = python_sdk.Client(base_url=live_server.url, raise_on_unexpected_status=True)
    pair = api.sync(client=anonymous, body=models.PylonTokenObtainPairRequest(email=user.email, password=PASSWORD))
    assert isinstance(pair, models.TokenPair), pair
    client = python_sdk.AuthenticatedClient(
        base_url=live_server.url, token=pair.access, raise_on_unexpected_status=True
    )
    return client, user


def test_a_rename_through_the_sdk_changes_the_name_and_nothing_else(python_sdk, sdk_client):
    client, user = sdk_client
    workload = WorkloadFactory(
        user=user,
        urgency="HIGH",
        workload_type="TRAINING_RUN",
        required_gpu_mins=Decimal("120"),
        required_cpu_cores=32,
        required_memory_gb=Decimal("256"),
        deferral_window_mins=480,
        is_deferrable=False,
        carbon_cap_gco2=Decimal("900.50"),
    )
    before = model_to_dict(ComputeWorkload.objects.get(pk=workload.pk))
    patch = importlib.import_module("pylon_sdk.api.workloads.workloads_partial_update")
    models = importlib.import_module("pylon_sdk.models")

    rename = models.PatchedWorkloadInputRequest(workload_name="x")
    response = patch.sync_detailed(workload.id, client=client, body=rename)

    assert response.status_code == 200, response.content
    assert isinstance(response.parsed, models.ComputeWorkload) and response.parsed.workload_name == "x"
    after = model_to_dict(ComputeWorkload.objects.get(pk=workload.pk))
    assert after.pop("workload_name") == "x" and before.pop("workload_name") != "x"
    assert after == before  # urgency, type, resources, window, caps: all as they were


def test_filtering_two_statuses_through_the_sdk_returns_both(sdk_client):
    client, user = sdk_client
    WorkloadFactory.create_batch(3, user=user)
    zone = GridZoneFactory()
    for status in ("SCHEDULED", "SCHEDULED", "RUNNING"):
        WorkloadFactory(user=user, status=status, chosen_grid_zone=zone)
    listing = importlib.import_module("pylon_sdk.api.workloads.workloads_list")
    # The filter takes the named enum the responses use: one WorkloadStatus type in the client.
    status_enum = importlib.import_module("pylon_sdk.models").WorkloadStatusEnum

    page = listing.sync(client=client, status=[status_enum.PENDING, status_enum.SCHEDULED])

    assert page.count == 5
    assert sorted(w.status.value for w in page.results) == ["PENDING"] * 3 + ["SCHEDULED"] * 2


def test_a_submission_with_only_the_required_fields_gets_the_documented_defaults(sdk_client):
    client, user = sdk_client
    zone = GridZoneFactory()
    create = importlib.import_module("pylon_sdk.api.workloads.workloads_create")
    models = importlib.import_module("pylon_sdk.models")

    created = create.sync(client=client, body=models.WorkloadInputRequest(workload_name="minimal", host_dc=zone.id))

    assert isinstance(created, models.ComputeWorkload), created
    row = ComputeWorkload.objects.get(pk=created.id)
    assert (row.user_id, row.workload_name, row.host_dc_id) == (user.id, "minimal", zone.id)
    assert (row.urgency, row.workload_type, row.required_gpu_mins, row.is_deferrable) == ("MEDIUM", "OTHER", 0, True)
    assert row.deadline is None or row.deadline > timezone.now() - timedelta(minutes=1)
