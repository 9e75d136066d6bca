import base64
import json
from datetime import timedelta

import jwt
import pytest
import time_machine
from django.conf import settings
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from accounts.models import Organization, Role, User
from tests.accounts.factories import PASSWORD, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register/"
TOKEN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/token/refresh/"
LOGOUT = "/api/v1/auth/logout/"
ME = "/api/v1/auth/me/"


def login(client, email, password=PASSWORD):
    return client.post(TOKEN, {"email": email, "password": password})


def decode(token: str) -> dict:
    jwt_settings = settings.SIMPLE_JWT
    return jwt.decode(
        token,
        jwt_settings["SIGNING_KEY"],
        algorithms=[jwt_settings["ALGORITHM"]],
        audience=jwt_settings["AUDIENCE"],
        issuer=jwt_settings["ISSUER"],
    )


class TestRegistration:
    def test_without_join_code_joins_the_default_organisation(self, api_client):
        response = api_client.post(
            REGISTER, {"email": "New.Person@Example.com", "password": "a-long-unusual-passphrase", "user_name": "New"}
        )
        assert response.status_code == 201, response.data
        body = response.json()
        assert "password" not in body
        assert body["email"] == "new.person@example.com"
        assert body["role"] == "USER"
        default = Organization.objects.get(slug=settings.DEFAULT_ORGANIZATION_SLUG)
        assert body["organization"]["id"] == str(default.id)
        user = User.objects.get(email="new.person@example.com")
        assert user.check_password("a-long-unusual-passphrase")
        assert user.organization == default

    def test_with_join_code_joins_that_organisation(self, api_client):
        organization = OrganizationFactory(join_code="JOINME2026")
        response = api_client.post(
            REGISTER, {"email": "a@example.com", "password": "a-long-unusual-passphrase", "join_code": "joinme2026"}
        )
        assert response.status_code == 201
        assert User.objects.get(email="a@example.com").organization == organization

    def test_unknown_join_code_is_a_400_and_creates_nobody(self, api_client):
        response = api_client.post(
            REGISTER, {"email": "a@example.com", "password": "a-long-unusual-passphrase", "join_code": "NOPE"}
        )
        assert response.status_code == 400
        assert response.json()["fields"]["join_code"][0]["message"] == "No organisation has this join code."
        assert not User.objects.filter(email="a@example.com").exists()

    @pytest.mark.parametrize(
        "extra",
        [
            {"role": "OPERATOR"},
            {"organization": "00000000-0000-0000-0000-000000000000"},
            {"is_staff": True},
            {"is_superuser": True},
        ],
    )
    def test_cannot_choose_role_organisation_or_staff(self, api_client, extra):
        payload = {"email": "sneaky@example.com", "password": "a-long-unusual-passphrase", **extra}
        response = api_client.post(REGISTER, payload)
        assert response.status_code == 400
        assert list(extra) == list(response.json()["fields"])
        assert not User.objects.filter(email="sneaky@example.com").exists()

    def test_duplicate_email_is_case_insensitive(self, api_client):
        UserFactory(email="taken@example.com")
        response = api_client.post(REGISTER, {"email": "TAKEN@example.com", "password": "a-long-unusual-passphrase"})
        assert response.status_code == 400
        assert "email" in response.json()["fields"]
        assert User.objects.filter(email__iexact="taken@example.com").count() == 1

    def test_weak_password_is_refused(self, api_client):
        response = api_client.post(REGISTER, {"email": "weak@example.com", "password": "password"})
        assert response.status_code == 400
        assert "password" in response.json()["fields"]

    def test_registration_is_throttled(self, api_client):
        statuses = [
            api_client.post(
                REGISTER, {"email": f"p{i}@example.com", "password": "a-long-unusual-passphrase"}
            ).status_code
            for i in range(7)
        ]
        assert statuses[:5] == [201] * 5
        assert statuses[5] == 429


class TestLogin:
    def test_token_pair_carries_profile_claims(self, api_client, operator):
        response = login(api_client, operator.email)
        assert response.status_code == 200
        claims = decode(response.json()["access"])
        assert claims["role"] == Role.OPERATOR
        assert claims["organization"] == str(operator.organization_id)
        assert claims["user_name"] == operator.user_name
        assert claims["aud"] == settings.SIMPLE_JWT["AUDIENCE"]
        assert claims["iss"] == settings.SIMPLE_JWT["ISSUER"]
        assert claims["exp"] - claims["iat"] <= 15 * 60  # short-lived

    def test_email_is_case_insensitive(self, api_client, user):
        assert login(api_client, user.email.upper()).status_code == 200

    def test_wrong_password_and_unknown_email_look_the_same(self, api_client, user):
        wrong_password = login(api_client, user.email, "not-the-password")
        unknown_email = login(api_client, "nobody@example.com", "not-the-password")
        assert wrong_password.status_code == unknown_email.status_code == 401
        assert wrong_password.json() == unknown_email.json()
        assert wrong_password.json()["code"] == "authentication_failed"

    def test_inactive_user_is_refused_like_a_wrong_password(self, api_client, user):
        user.is_active = False
        user.save()
        response = login(api_client, user.email)
        assert response.status_code == 401
        assert response.json() == login(api_client, "nobody@example.com").json()

    def test_login_is_throttled(self, api_client, user):
        statuses = [login(api_client, user.email, "wrong").status_code for _ in range(12)]
        assert statuses[:10] == [401] * 10
        assert statuses[10] == 429
        response = login(api_client, user.email, "wrong")
        assert response.json()["code"] == "throttled"
        assert int(response["Retry-After"]) > 0


class TestTokens:
    def test_access_token_signs_requests(self, api_client, user):
        access = login(api_client, user.email).json()["access"]
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
        assert api_client.get(ME).json()["email"] == user.email

    def test_refresh_rotates_and_blacklists_the_old_token(self, api_client, user):
        pair = login(api_client, user.email).json()
        response = api_client.post(REFRESH, {"refresh": pair["refresh"]})
        assert response.status_code == 200
        rotated = response.json()
        assert rotated["refresh"] != pair["refresh"]
        assert decode(rotated["access"])["role"] == "USER"
        assert BlacklistedToken.objects.filter(token__jti=decode(pair["refresh"])["jti"]).exists()
        reused = api_client.post(REFRESH, {"refresh": pair["refresh"]})
        assert reused.status_code == 401
        assert reused.json()["code"] == "token_not_valid"
        assert api_client.post(REFRESH, {"refresh": rotated["refresh"]}).status_code == 200

    def test_refresh_reads_the_role_from_the_database(self, api_client, user):
        pair = login(api_client, user.email).json()
        user.role = Role.OPERATOR
        user.save()
        rotated = api_client.post(REFRESH, {"refresh": pair["refresh"]}).json()
        assert decode(rotated["access"])["role"] == "OPERATOR"

    def test_refresh_of_a_deleted_or_inactive_user_is_a_401(self, api_client):
        gone, inactive = UserFactory(), UserFactory()
        gone_pair, inactive_pair = login(api_client, gone.email).json(), login(api_client, inactive.email).json()
        gone.delete()
        inactive.is_active = False
        inactive.save()
        assert api_client.post(REFRESH, {"refresh": gone_pair["refresh"]}).status_code == 401
        assert api_client.post(REFRESH, {"refresh": inactive_pair["refresh"]}).status_code == 401

    def test_access_token_of_a_deactivated_user_is_refused(self, api_client, user):
        access = login(api_client, user.email).json()["access"]
        user.is_active = False
        user.save()
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
        assert api_client.get(ME).status_code == 401

    def test_password_change_revokes_tokens(self, api_client, user):
        pair = login(api_client, user.email).json()
        user.set_password("another-long-passphrase")
        user.save()
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
        assert api_client.get(ME).status_code == 401
        api_client.credentials()
        assert api_client.post(REFRESH, {"refresh": pair["refresh"]}).status_code == 401

    def test_logout_blacklists_the_refresh_token(self, api_client, user):
        pair = login(api_client, user.email).json()
        assert api_client.post(LOGOUT, {"refresh": pair["refresh"]}).status_code == 204
        response = api_client.post(REFRESH, {"refresh": pair["refresh"]})
        assert response.status_code == 401
        assert api_client.post(LOGOUT, {"refresh": pair["refresh"]}).status_code == 401

    def test_logout_with_garbage_is_a_401(self, api_client):
        response = api_client.post(LOGOUT, {"refresh": "garbage"})
        assert response.status_code == 401
        assert response.json()["code"] == "token_not_valid"

    def test_expired_access_token_is_refused_with_its_own_code(self, api_client, user):
        access = login(api_client, user.email).json()["access"]
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
        lifetime = settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]
        with time_machine.travel(timezone.now() + lifetime + timedelta(seconds=5)):
            response = api_client.get(ME)
        assert response.status_code == 401
        assert response.json()["code"] == "token_expired"  # the client knows to refresh

    def test_a_token_used_before_is_still_refused_once_expired(self, api_client, user):
        # The process remembers tokens it verified; only their expiry is checked again, and it is.
        access = login(api_client, user.email).json()["access"]
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
        assert api_client.get(ME).status_code == 200
        lifetime = settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]
        with time_machine.travel(timezone.now() + lifetime - timedelta(seconds=5)):
            assert api_client.get(ME).status_code == 200
        with time_machine.travel(timezone.now() + lifetime + timedelta(seconds=5)):
            response = api_client.get(ME)
        assert response.status_code == 401
        assert response.json()["code"] == "token_expired"

    @pytest.mark.parametrize("change", ["deactivated", "password changed", "signed out everywhere", "deleted"])
    def test_a_token_used_before_is_refused_at_once_when_its_user_changes(self, api_client, user, change):
        access = login(api_client, user.email).json()["access"]
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
        assert api_client.get(ME).status_code == 200
        if change == "deactivated":
            User.objects.filter(pk=user.pk).update(is_active=False)  # no signal, no save(): a bare UPDATE
        elif change == "password changed":
            user.set_password("another-Passw0rd!")
            user.save()
        elif change == "signed out everywhere":
            User.objects.filter(pk=user.pk).update(session_generation=user.session_generation + 1)
        else:
            User.objects.filter(pk=user.pk).delete()
        assert api_client.get(ME).status_code == 401

    def test_an_expired_token_with_a_forged_signature_is_not_valid_not_expired(self, api_client, user):
        access = login(api_client, user.email).json()["access"]
        header, payload, signature = access.split(".")
        forged = f"{header}.{payload}.{signature[:-4]}AAAA"
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
        lifetime = settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]
        with time_machine.travel(timezone.now() + lifetime + timedelta(seconds=5)):
            response = api_client.get(ME)
        assert response.status_code == 401
        assert response.json()["code"] == "token_not_valid"

    def test_tampered_token_is_refused(self, api_client, user, operator):
        access = login(api_client, user.email).json()["access"]
        header, payload, signature = access.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["role"] = "OPERATOR"
        claims["user_id"] = str(operator.id)
        forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {header}.{forged}.{signature}")
        assert api_client.get(ME).status_code == 401

    def test_alg_none_token_is_refused(self, api_client, user):
        claims = decode(login(api_client, user.email).json()["access"])
        unsigned = jwt.encode(claims, key=None, algorithm="none")
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {unsigned}")
        assert api_client.get(ME).status_code == 401

    def test_token_signed_with_secret_key_is_refused(self, api_client, user):
        """The JWT key is not SECRET_KEY: a leaked SECRET_KEY cannot mint tokens."""
        assert settings.SIMPLE_JWT["SIGNING_KEY"] != settings.SECRET_KEY
        claims = decode(login(api_client, user.email).json()["access"])
        forged = jwt.encode(claims, settings.SECRET_KEY, algorithm="HS256")
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
        assert api_client.get(ME).status_code == 401

    def test_token_for_another_audience_is_refused(self, api_client, user):
        claims = decode(login(api_client, user.email).json()["access"])
        claims["aud"] = "another-service"
        forged = jwt.encode(claims, settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256")
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
        assert api_client.get(ME).status_code == 401

    def test_refresh_token_is_not_an_access_token(self, api_client, user):
        refresh = login(api_client, user.email).json()["refresh"]
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {refresh}")
        assert api_client.get(ME).status_code == 401


class TestMe:
    def test_anonymous_gets_401_not_403(self, api_client):
        response = api_client.get(ME)
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"
        assert response["WWW-Authenticate"].startswith("Bearer")

    def test_read_and_change_own_name(self, make_client, user):
        client = make_client(user)
        assert client.get(ME).json()["id"] == str(user.id)
        response = client.patch(ME, {"user_name": "Renamed"})
        assert response.status_code == 200
        assert response.json()["user_name"] == "Renamed"
        user.refresh_from_db()
        assert user.user_name == "Renamed"

    @pytest.mark.parametrize(
        "field,value", [("role", "OPERATOR"), ("organization", None), ("is_staff", True), ("id", "x")]
    )
    def test_role_organisation_and_staff_are_read_only(self, make_client, user, field, value):
        before = (user.role, user.organization_id, user.is_staff)
        response = make_client(user).patch(ME, {field: value})
        assert response.status_code == 400
        assert response.json()["fields"][field][0]["message"] == "This field is set by Pylon and cannot be written."
        user.refresh_from_db()
        assert (user.role, user.organization_id, user.is_staff) == before

    def test_email_change_keeps_uniqueness(self, make_client, user):
        other = UserFactory()
        response = make_client(user).patch(ME, {"email": other.email.upper()})
        assert response.status_code == 400
        user.refresh_from_db()
        assert user.email != other.email
