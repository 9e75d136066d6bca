"""API keys in the operators' console: scoped by the same selector, created and revoked by the same services."""

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.messages import get_messages

from apikeys import tokens
from apikeys.models import ApiKey
from tests.apikeys.factories import api_key_create

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/apikeys/apikey/"


def test_an_operator_sees_only_their_organisations_keys(operator_console, staff_operator, other_organization):
    mine, _ = api_key_create(staff_operator.organization, name="ours")
    theirs, _ = api_key_create(other_organization, name="theirs")
    listing = operator_console.get(CHANGELIST).content.decode()
    assert mine.prefix in listing and theirs.prefix not in listing
    response = operator_console.get(f"{CHANGELIST}{theirs.pk}/change/")
    assert response.status_code == 302  # "doesn't exist": back to the index, as for any row out of scope


def test_an_operator_creates_a_key_and_is_shown_its_secret_once(operator_console, staff_operator, other_organization):
    response = operator_console.post(
        f"{CHANGELIST}add/",
        {"organization": str(staff_operator.organization.pk), "name": "runner", "scopes": ["workloads:read"]},
        follow=True,
    )
    assert response.status_code == 200
    key = ApiKey.objects.get()
    secret = next(str(m).rsplit(" ", 1)[-1] for m in get_messages(response.wsgi_request) if "secret" in str(m))
    assert tokens.key_is_well_formed(secret) and tokens.key_matches(secret, key.key_hash)
    assert (key.created_by, key.scopes) == (staff_operator, ["workloads:read"])
    # Another organisation is not offered.
    refused = operator_console.post(
        f"{CHANGELIST}add/", {"organization": str(other_organization.pk), "name": "x", "scopes": ["zones:read"]}
    )
    assert refused.status_code == 200 and ApiKey.objects.count() == 1


def test_the_revoke_action_revokes_and_is_logged(operator_console, staff_operator, other_organization):
    mine, _ = api_key_create(staff_operator.organization)
    theirs, _ = api_key_create(other_organization)
    operator_console.post(CHANGELIST, {"action": "revoke", "_selected_action": [str(mine.pk), str(theirs.pk)]})
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.revoked_at is not None and theirs.revoked_at is None
    assert LogEntry.objects.filter(object_id=str(mine.pk), change_message="Revoked").exists()
