"""Membership edits in the admin (role, deactivation, organisation) go through the same services as
the API: audited, with the same rules and side effects. What only the admin changes (a new account,
admin sign-in, superuser, groups, permissions) goes through the accounts services too, and is audited."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client

from accounts.models import AuditAction, AuditEntry, Role, User
from accounts.services import OPERATORS_GROUP
from conftest import client_for
from tests.accounts.factories import PASSWORD, OperatorFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser("root@example.com", PASSWORD)


@pytest.fixture
def console(superuser):
    client = Client()
    client.force_login(superuser)
    return client


def admin_change(console, member, **changes):
    """POST the admin's change form of ``member`` with its stored values, but ``changes``."""
    form = {
        "email": member.email,
        "user_name": member.user_name,
        "role": member.role,
        "organization": str(member.organization_id or ""),
        "is_active": "on" if member.is_active else "",
        "is_staff": "on" if member.is_staff else "",
        **changes,
    }
    return console.post(f"/admin/accounts/user/{member.pk}/change/", {k: v for k, v in form.items() if v != ""})


def _entries():
    return list(
        AuditEntry.objects.order_by("id").values_list(
            "organization", "action", "actor", "target", "from_value", "to_value"
        )
    )


def test_a_role_change_is_audited_and_grants_the_operators_admin_access(console, superuser, user, organization):
    assert admin_change(console, user, role="OPERATOR").status_code == 302
    user.refresh_from_db()
    assert (user.role, user.is_staff) == (Role.OPERATOR, True)
    assert user.groups.filter(name=OPERATORS_GROUP).exists()
    assert _entries() == [(organization.pk, AuditAction.ROLE_CHANGED, superuser.pk, user.pk, "USER", "OPERATOR")]


def test_a_deactivation_is_audited_and_ends_the_members_sessions(console, superuser, user, organization):
    generation = user.session_generation
    assert admin_change(console, user, is_active="").status_code == 302
    user.refresh_from_db()
    assert not user.is_active and user.session_generation > generation
    assert admin_change(console, user, is_active="on").status_code == 302
    assert [entry[1] for entry in _entries()] == [AuditAction.MEMBER_DEACTIVATED, AuditAction.MEMBER_REACTIVATED]


def test_a_move_is_audited_in_both_organisations(console, superuser, user, organization, other_organization):
    assert admin_change(console, user, organization=str(other_organization.pk)).status_code == 302
    user.refresh_from_db()
    assert user.organization == other_organization
    moved = (AuditAction.MEMBER_MOVED, superuser.pk, user.pk, organization.slug, other_organization.slug)
    assert _entries() == [(organization.pk, *moved), (other_organization.pk, *moved)]


def test_the_organisations_operators_read_it_in_the_audit_log(console, user, operator):
    admin_change(console, user, is_active="")
    rows = client_for(operator).get("/api/v1/accounts/audit/").json()["results"]
    assert [row["action"] for row in rows] == ["MEMBER_DEACTIVATED"]


def test_other_edits_record_nothing(console, user):
    assert admin_change(console, user, user_name="Renamed").status_code == 302
    user.refresh_from_db()
    assert user.user_name == "Renamed"
    assert _entries() == []


def test_the_last_operator_is_not_moved_away(console, operator, user, other_organization):
    response = admin_change(console, operator, organization=str(other_organization.pk))
    assert response.status_code == 200 and "last operator" in response.content.decode()
    operator.refresh_from_db()
    assert operator.organization_id == user.organization_id
    assert _entries() == []


def test_an_operator_with_a_fellow_may_be_demoted_there(console, operator, organization):
    OperatorFactory(organization=organization)
    UserFactory(organization=organization)
    assert admin_change(console, operator, role="USER").status_code == 302
    operator.refresh_from_db()
    assert (operator.role, operator.is_staff) == (Role.USER, False)


def test_a_refusal_after_the_form_checked_keeps_nothing_of_the_edit(console, operator, user, monkeypatch):
    """Two edits at once can both pass the form's check; the service refuses the second under its lock,
    and the whole edit is undone with an error, never a 500."""
    monkeypatch.setattr("accounts.forms.member_require_operator_remains", lambda **kwargs: None)
    url = f"/admin/accounts/user/{operator.pk}/change/"
    response = admin_change(console, operator, role="USER", user_name="Renamed")
    assert response.status_code == 302 and response.url == url
    operator.refresh_from_db()
    assert (operator.role, operator.user_name) == (Role.OPERATOR, operator.user_name)
    assert operator.user_name != "Renamed"
    assert "last operator" in console.get(url).content.decode()
    assert _entries() == []


def admin_add(console, **fields):
    form = {"usable_password": "true", "password1": PASSWORD, "password2": PASSWORD, "user_name": "", **fields}
    return console.post("/admin/accounts/user/add/", {k: v for k, v in form.items() if v != ""})


def test_a_member_created_in_the_admin_is_audited(console, superuser, organization):
    response = admin_add(console, email="new@example.com", role="USER", organization=str(organization.pk))
    assert response.status_code == 302
    member = User.objects.get(email="new@example.com")
    assert member.check_password(PASSWORD)
    assert _entries() == [(organization.pk, AuditAction.MEMBER_CREATED, superuser.pk, member.pk, "", "USER")]


def test_an_operator_created_in_the_admin_gets_the_operators_admin_access(console, superuser, organization):
    admin_add(console, email="op@example.com", role="OPERATOR", organization=str(organization.pk))
    operator = User.objects.get(email="op@example.com")
    assert operator.is_staff and operator.groups.filter(name=OPERATORS_GROUP).exists()
    assert [entry[1:] for entry in _entries()] == [
        (AuditAction.MEMBER_CREATED, superuser.pk, operator.pk, "", Role.OPERATOR)
    ]


def test_an_account_without_an_organisation_is_a_form_error_not_a_500(console):
    response = admin_add(console, email="svc@example.com", role="USER")
    assert response.status_code == 200 and "A member needs an organisation." in response.content.decode()
    assert not User.objects.filter(email="svc@example.com").exists()
    assert _entries() == []


def test_granting_and_revoking_admin_sign_in_is_audited(console, superuser, user, organization):
    assert admin_change(console, user, is_staff="on").status_code == 302
    user.refresh_from_db()
    assert user.is_staff
    assert admin_change(console, user, is_staff="").status_code == 302
    user.refresh_from_db()
    assert not user.is_staff
    assert _entries() == [
        (organization.pk, AuditAction.STAFF_GRANTED, superuser.pk, user.pk, "", ""),
        (organization.pk, AuditAction.STAFF_REVOKED, superuser.pk, user.pk, "", ""),
    ]


def test_granting_superuser_is_audited(console, superuser, user, organization):
    assert admin_change(console, user, is_superuser="on").status_code == 302
    user.refresh_from_db()
    assert user.is_superuser
    assert _entries() == [(organization.pk, AuditAction.SUPERUSER_GRANTED, superuser.pk, user.pk, "", "")]


def test_group_and_permission_edits_are_audited_with_before_and_after(console, superuser, user, organization):
    auditors = Group.objects.create(name="Auditors")
    view_user = Permission.objects.get(content_type__app_label="accounts", codename="view_user")
    response = admin_change(console, user, groups=[str(auditors.pk)], user_permissions=[str(view_user.pk)])
    assert response.status_code == 302
    assert list(user.groups.values_list("name", flat=True)) == ["Auditors"]
    assert list(user.user_permissions.all()) == [view_user]
    assert _entries() == [
        (organization.pk, AuditAction.GROUPS_CHANGED, superuser.pk, user.pk, "", "Auditors"),
        (organization.pk, AuditAction.PERMISSIONS_CHANGED, superuser.pk, user.pk, "", "accounts.view_user"),
    ]
    assert admin_change(console, user).status_code == 302  # both emptied
    assert not user.groups.exists() and not user.user_permissions.exists()
    assert [entry[1:] for entry in _entries()[2:]] == [
        (AuditAction.GROUPS_CHANGED, superuser.pk, user.pk, "Auditors", ""),
        (AuditAction.PERMISSIONS_CHANGED, superuser.pk, user.pk, "accounts.view_user", ""),
    ]


def test_a_refused_membership_change_keeps_no_access_change_either(console, operator, user, monkeypatch):
    monkeypatch.setattr("accounts.forms.member_require_operator_remains", lambda **kwargs: None)
    response = admin_change(console, operator, role="USER", is_superuser="on")
    assert response.status_code == 302
    operator.refresh_from_db()
    assert (operator.role, operator.is_superuser) == (Role.OPERATOR, False)
    assert _entries() == []
