"""The workloads' role × action matrix (tests/workloads/test_lifecycle.py), repeated for API keys of
each scope: a key acts as an operator of its organisation narrowed to its scopes, so every row of
another organisation stays a 404 and every action it lacks the scope for is a 403 that changes nothing."""

import pytest

from apikeys.models import ApiKeyScope
from tests.accounts.factories import UserFactory
from tests.apikeys.factories import ALL_SCOPES, api_key_create, key_client
from tests.workloads.factories import WorkloadFactory
from tests.workloads.test_lifecycle import MATRIX, _request
from tests.zones.factories import GridZoneFactory
from workloads.api.views import WorkloadViewSet
from workloads.models import ComputeWorkload, WorkloadEvent, WorkloadStatus

pytestmark = pytest.mark.django_db
S = WorkloadStatus
SCOPE_SETS = {scope: [scope] for scope in ApiKeyScope.values} | {"all": ALL_SCOPES}
OWNERS = ["key", "colleague", "stranger"]


def _expected(action: str, scopes: list[str], owner: str) -> int:
    """What a key gets, from the rules: the scope first, then the selectors' scoping, then the
    operator's rules, with a write-only key acting on its own rows only."""
    verb = "cancel" if action == "cancel_running" else action
    if WorkloadViewSet.required_scopes[verb] not in scopes:
        return 403
    if owner == "stranger":
        return 404
    if action == "partial_update":  # only the owner edits, never an operator
        return 200 if owner == "key" else 403
    if verb == "cancel" and owner != "key" and ApiKeyScope.WORKLOADS_OPERATE not in scopes:
        return 403
    return MATRIX[action][3]["operator"]


@pytest.mark.parametrize("owner", OWNERS)
@pytest.mark.parametrize("scope_set", list(SCOPE_SETS))
@pytest.mark.parametrize("action", list(MATRIX))
def test_key_permission_matrix(organization, other_organization, action, scope_set, owner):
    scopes = SCOPE_SETS[scope_set]
    key, secret = api_key_create(organization, scopes=scopes)
    zone = GridZoneFactory()
    start_status, body, success_status, _ = MATRIX[action]
    user = {
        "key": key.principal,
        "colleague": UserFactory(organization=organization),
        "stranger": UserFactory(organization=other_organization),
    }[owner]
    fields = {"chosen_grid_zone": zone} if start_status != S.PENDING else {}
    workload = WorkloadFactory(user=user, status=start_status, **fields)
    events_before = WorkloadEvent.objects.filter(workload=workload).count()

    response = _request(key_client(secret), action, workload, body, zone)

    expected = _expected(action, scopes, owner)
    assert response.status_code == expected, (action, scope_set, owner, response.content)
    workload.refresh_from_db()
    if expected == 200 and action not in ("retrieve", "events"):
        assert workload.status == success_status
        if action != "partial_update":
            event = WorkloadEvent.objects.filter(workload=workload).latest("id")
            assert (event.from_status, event.to_status, event.actor) == (start_status, success_status, key.principal)
    elif action not in ("retrieve", "events"):
        assert workload.status == start_status
        assert WorkloadEvent.objects.filter(workload=workload).count() == events_before
        assert workload.workload_name != "Changed"


@pytest.mark.parametrize("scope_set", list(SCOPE_SETS))
def test_key_list_and_create_matrix(organization, other_organization, scope_set):
    scopes = SCOPE_SETS[scope_set]
    key, secret = api_key_create(organization, scopes=scopes)
    client = key_client(secret)
    mine = WorkloadFactory(user=UserFactory(organization=organization))
    WorkloadFactory(user=UserFactory(organization=other_organization))

    listed = client.get("/api/v1/workloads/")
    if ApiKeyScope.WORKLOADS_READ in scopes:
        assert {row["id"] for row in listed.json()["results"]} == {str(mine.pk)}
    else:
        assert listed.status_code == 403

    created = client.post("/api/v1/workloads/", {"workload_name": "From CI", "host_dc": str(GridZoneFactory().pk)})
    if ApiKeyScope.WORKLOADS_WRITE in scopes:
        assert created.status_code == 201
        assert ComputeWorkload.objects.get(pk=created.json()["id"]).user == key.principal
    else:
        assert created.status_code == 403
        assert not ComputeWorkload.objects.filter(workload_name="From CI").exists()
