"""Organisation management: the join code, members (deactivate, reactivate, roles) and the audit log."""

import pytest
from django.contrib.auth.models import Group

from accounts.models import AuditAction, AuditEntry, Organization, Role, User
from accounts.services import OPERATORS_GROUP, operator_grant_admin_access
from conftest import REQUEST_OVERHEAD_QUERIES
from tests.accounts.factories import PASSWORD, OperatorFactory, UserFactory

pytestmark = pytest.mark.django_db

ORGANIZATIONS = "/api/v1/accounts/organizations/"
USERS = "/api/v1/accounts/users/"
AUDIT = "/api/v1/accounts/audit/"
TOKEN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/token/refresh/"


class TestJoinCode:
    def test_an_operator_sees_and_rotates_their_organisations_code(self, make_client, operator, organization, user):
        client = make_client(operator)
        listed = client.get(ORGANIZATIONS).json()
        assert [row["join_code"] for row in listed["results"]] == [organization.join_code]
        old_code = organization.join_code

        response = client.post(f"{ORGANIZATIONS}{organization.pk}/join-code/rotate/")
        assert response.status_code == 200
        organization.refresh_from_db()
        assert organization.join_code != old_code
        assert response.json()["join_code"] == organization.join_code
        user.refresh_from_db()
        assert user.organization == organization  # people already in stay

        registered = make_client().post(
            "/api/v1/auth/register/",
            {"email": "late@example.com", "password": "a-long-passphrase-9", "join_code": old_code},
        )
        assert registered.status_code == 400
        assert "join_code" in registered.json()["fields"]
        entry = AuditEntry.objects.get()
        assert (entry.organization, entry.actor, entry.action, entry.target) == (
            organization,
            operator,
            AuditAction.JOIN_CODE_ROTATED,
            None,
        )

    def test_users_cannot_see_or_rotate_it(self, make_client, user, organization):
        client = make_client(user)
        assert client.get(ORGANIZATIONS).status_code == 403
        assert client.post(f"{ORGANIZATIONS}{organization.pk}/join-code/rotate/").status_code == 403
        old = organization.join_code
        organization.refresh_from_db()
        assert organization.join_code == old

    def test_the_service_role_sees_every_organisation(
        self, make_client, service_user, organization, other_organization
    ):
        ids = {row["id"] for row in make_client(service_user).get(ORGANIZATIONS).json()["results"]}
        assert {str(organization.pk), str(other_organization.pk)} <= ids


class TestMembers:
    def test_the_list_shows_role_last_sign_in_and_verification(self, make_client, api_client, operator, organization):
        member = UserFactory(organization=organization, email_verified_at=None)
        api_client.post(TOKEN, {"email": member.email, "password": PASSWORD})
        UserFactory(organization=OperatorFactory().organization)  # another organisation's
        rows = {row["email"]: row for row in make_client(operator).get(USERS).json()["results"]}
        assert set(rows) == {operator.email, member.email}
        assert rows[member.email]["role"] == "USER"
        assert rows[member.email]["email_verified"] is False
        assert rows[member.email]["last_login"] is not None
        assert rows[operator.email]["email_verified"] is True

    def test_the_list_makes_a_fixed_number_of_queries(
        self, make_client, operator, organization, django_assert_num_queries
    ):
        client = make_client(operator)
        UserFactory.create_batch(3, organization=organization)
        with django_assert_num_queries(REQUEST_OVERHEAD_QUERIES + 2) as few:
            client.get(USERS)
        UserFactory.create_batch(6, organization=organization)
        with django_assert_num_queries(len(few.captured_queries)):
            client.get(USERS)

    def test_deactivation_ends_the_members_sessions_and_reactivation_lets_them_back(
        self, make_client, api_client, operator, user
    ):
        session = api_client.post(TOKEN, {"email": user.email, "password": PASSWORD}).json()
        client = make_client(operator)
        response = client.post(f"{USERS}{user.pk}/deactivate/")
        assert response.status_code == 200
        assert response.json()["is_active"] is False
        user.refresh_from_db()
        assert not user.is_active
        assert make_client().post(REFRESH, {"refresh": session["refresh"]}).status_code == 401
        assert make_client().post(TOKEN, {"email": user.email, "password": PASSWORD}).status_code == 401

        assert client.post(f"{USERS}{user.pk}/reactivate/").json()["is_active"] is True
        assert make_client().post(TOKEN, {"email": user.email, "password": PASSWORD}).status_code == 200
        assert list(AuditEntry.objects.order_by("id").values_list("action", "actor", "target")) == [
            (AuditAction.MEMBER_DEACTIVATED, operator.pk, user.pk),
            (AuditAction.MEMBER_REACTIVATED, operator.pk, user.pk),
        ]

    def test_never_themselves(self, make_client, operator):
        response = make_client(operator).post(f"{USERS}{operator.pk}/deactivate/")
        assert response.status_code == 403
        operator.refresh_from_db()
        assert operator.is_active
        assert not AuditEntry.objects.exists()

    def test_never_another_organisations_member(self, make_client, operator, other_organization):
        stranger = UserFactory(organization=other_organization)
        for verb in ("deactivate", "reactivate"):
            assert make_client(operator).post(f"{USERS}{stranger.pk}/{verb}/").status_code == 404
        stranger.refresh_from_db()
        assert stranger.is_active

    def test_users_cannot_manage_members(self, make_client, user, organization):
        peer = UserFactory(organization=organization)
        assert make_client(user).post(f"{USERS}{peer.pk}/deactivate/").status_code == 403
        peer.refresh_from_db()
        assert peer.is_active


class TestRoles:
    def test_the_service_role_promotes_and_demotes(self, make_client, service_user, user):
        client = make_client(service_user)
        response = client.post(f"{USERS}{user.pk}/role/", {"role": "OPERATOR"})
        assert response.status_code == 200
        user.refresh_from_db()
        assert user.role == Role.OPERATOR and user.is_staff
        assert user.groups.filter(name=OPERATORS_GROUP).exists()

        client.post(f"{USERS}{user.pk}/role/", {"role": "USER"})
        user.refresh_from_db()
        # A staff member who is not an operator would be the service role: demotion drops staff.
        assert (user.role, user.is_staff, user.is_service_role) == (Role.USER, False, False)
        assert not user.groups.exists()
        entries = AuditEntry.objects.order_by("id")
        assert [(e.from_value, e.to_value, e.actor_id) for e in entries] == [
            ("USER", "OPERATOR", service_user.pk),
            ("OPERATOR", "USER", service_user.pk),
        ]

    def test_operators_cannot_change_roles(self, make_client, operator, user):
        response = make_client(operator).post(f"{USERS}{user.pk}/role/", {"role": "OPERATOR"})
        assert response.status_code == 403
        user.refresh_from_db()
        assert user.role == Role.USER

    def test_an_unknown_role_is_400(self, make_client, service_user, user):
        response = make_client(service_user).post(f"{USERS}{user.pk}/role/", {"role": "ADMIN"})
        assert response.status_code == 400
        assert "role" in response.json()["fields"]


class TestAuditLog:
    def test_operators_see_their_organisations_entries_only(self, make_client, operator, user, other_organization):
        stranger_operator = operator_grant_admin_access(user=OperatorFactory(organization=other_organization))
        make_client(operator).post(f"{USERS}{user.pk}/deactivate/")
        make_client(stranger_operator).post(f"{ORGANIZATIONS}{other_organization.pk}/join-code/rotate/")
        body = make_client(operator).get(AUDIT).json()
        assert [(row["action"], row["actor"]["email"], row["target"]["email"]) for row in body["results"]] == [
            ("MEMBER_DEACTIVATED", operator.email, user.email)
        ]
        assert make_client(operator).get(AUDIT, {"action": "JOIN_CODE_ROTATED"}).json()["count"] == 0
        assert make_client(UserFactory(organization=user.organization)).get(AUDIT).status_code == 403

    def test_the_admin_shows_it_read_only(self, operator_console, staff_operator, user):
        from accounts import membership

        membership.member_deactivate(member=user, by=staff_operator)
        listing = operator_console.get("/admin/accounts/auditentry/")
        assert listing.status_code == 200
        assert user.email in listing.content.decode()
        entry = AuditEntry.objects.get()
        assert operator_console.get(f"/admin/accounts/auditentry/{entry.pk}/delete/").status_code == 403
        assert operator_console.post(f"/admin/accounts/auditentry/{entry.pk}/change/", {}).status_code == 403
        assert AuditEntry.objects.count() == 1


def test_the_operators_group_may_view_the_audit_log(staff_operator):
    assert Group.objects.get(name=OPERATORS_GROUP).permissions.filter(codename="view_auditentry").exists()
    assert User.objects.get(pk=staff_operator.pk).has_perm("accounts.view_auditentry")
    assert Organization.objects.exists()
