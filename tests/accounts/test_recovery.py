"""Password change and reset, email confirmation, sign out everywhere: through the API and the
emails they send (Django's in-memory backend; the tests follow the links in the messages)."""

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.models import User
from tests.accounts.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/token/refresh/"
ME = "/api/v1/auth/me/"
CHANGE = "/api/v1/auth/password/change/"
RESET = "/api/v1/auth/password/reset/"
RESET_CONFIRM = "/api/v1/auth/password/reset/confirm/"
CONFIRM = "/api/v1/auth/email/confirm/"
RESEND = "/api/v1/auth/email/confirmation/resend/"
EVERYWHERE = "/api/v1/auth/logout/everywhere/"
NEW_PASSWORD = "a-brand-new-passphrase-2026"


@pytest.fixture
def throttle_rate(monkeypatch):
    """Set one throttle scope's rate for a test (DRF reads its rates once, into the class)."""
    from rest_framework.throttling import SimpleRateThrottle

    return lambda scope, rate: monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, scope, rate)


def sign_in(client, email, password=PASSWORD):
    response = client.post(TOKEN, {"email": email, "password": password})
    assert response.status_code == 200, response.json()
    return response.json()


def bearer(client, access):
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def link_in(message, base_url):
    """The link of ``base_url`` in the plain-text body, checked to be in the HTML body too."""
    links = re.findall(re.escape(base_url) + r"\?[^\s\"<]+", message.body)
    assert len(links) == 1, message.body
    html = message.alternatives[0][0]
    assert message.alternatives[0][1] == "text/html"
    assert links[0].replace("&", "&amp;") in html
    query = parse_qs(urlsplit(links[0]).query)
    return {"uid": query["uid"][0], "token": query["token"][0]}


def request_reset(api_client, email, callbacks):
    with callbacks(execute=True):
        response = api_client.post(RESET, {"email": email})
    assert response.status_code == 202
    return response


class TestPasswordChange:
    def test_needs_the_current_password_and_revokes_every_older_token(
        self, api_client, make_client, user, django_capture_on_commit_callbacks
    ):
        other_device = sign_in(make_client(), user.email)
        this_device = sign_in(api_client, user.email)
        response = bearer(api_client, this_device["access"]).post(
            CHANGE, {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        )
        assert response.status_code == 200, response.json()
        fresh = response.json()
        user.refresh_from_db()
        assert user.check_password(NEW_PASSWORD)
        # Every token issued before is refused, on every device; the fresh pair works.
        for old in (other_device, this_device):
            assert make_client().post(REFRESH, {"refresh": old["refresh"]}).status_code == 401
            assert bearer(make_client(), old["access"]).get(ME).status_code == 401
        assert bearer(make_client(), fresh["access"]).get(ME).status_code == 200
        assert make_client().post(REFRESH, {"refresh": fresh["refresh"]}).status_code == 200
        assert api_client.post(TOKEN, {"email": user.email, "password": NEW_PASSWORD}).status_code == 200

    def test_a_wrong_current_password_changes_nothing(self, make_client, user):
        response = make_client(user).post(CHANGE, {"current_password": "wrong", "new_password": NEW_PASSWORD})
        assert response.status_code == 400
        assert response.json()["fields"]["current_password"][0]["code"] == "wrong_password"
        user.refresh_from_db()
        assert user.check_password(PASSWORD)

    def test_the_validators_answer_per_field(self, make_client, user):
        response = make_client(user).post(CHANGE, {"current_password": PASSWORD, "new_password": "12345678"})
        assert response.status_code == 400
        codes = {problem["code"] for problem in response.json()["fields"]["new_password"]}
        assert {"password_too_common", "password_entirely_numeric"} <= codes
        user.refresh_from_db()
        assert user.check_password(PASSWORD)

    def test_guessing_the_current_password_is_throttled(self, make_client, user, throttle_rate):
        throttle_rate("password_change", "2/hour")
        client = make_client(user)
        for _ in range(2):
            assert client.post(CHANGE, {"current_password": "x", "new_password": NEW_PASSWORD}).status_code == 400
        response = client.post(CHANGE, {"current_password": PASSWORD, "new_password": NEW_PASSWORD})
        assert response.status_code == 429
        assert response.json()["code"] == "throttled"


class TestPasswordReset:
    def test_the_emailed_link_sets_a_new_password_once_and_signs_out_everywhere(
        self, api_client, user, mailoutbox, django_capture_on_commit_callbacks
    ):
        session = sign_in(api_client, user.email)
        request_reset(api_client, user.email.upper(), django_capture_on_commit_callbacks)
        assert len(mailoutbox) == 1
        message = mailoutbox[0]
        assert message.to == [user.email]
        assert message.from_email == settings.DEFAULT_FROM_EMAIL
        link = link_in(message, settings.PASSWORD_RESET_URL)

        response = api_client.post(RESET_CONFIRM, {**link, "new_password": NEW_PASSWORD})
        assert response.status_code == 204, response.json()
        user.refresh_from_db()
        assert user.check_password(NEW_PASSWORD)
        assert api_client.post(REFRESH, {"refresh": session["refresh"]}).status_code == 401
        assert bearer(api_client, session["access"]).get(ME).status_code == 401
        api_client.credentials()
        sign_in(api_client, user.email, NEW_PASSWORD)

        # Reused: the password it hashed has changed.
        again = api_client.post(RESET_CONFIRM, {**link, "new_password": "yet-another-passphrase-1"})
        assert again.status_code == 400
        assert again.json()["fields"]["token"][0]["code"] == "invalid"
        user.refresh_from_db()
        assert user.check_password(NEW_PASSWORD)

    def test_an_unknown_address_gets_the_same_answer_and_no_email(
        self, api_client, user, mailoutbox, django_capture_on_commit_callbacks
    ):
        known = request_reset(api_client, user.email, django_capture_on_commit_callbacks).json()
        unknown = request_reset(api_client, "nobody@example.com", django_capture_on_commit_callbacks).json()
        assert known == unknown
        assert [m.to for m in mailoutbox] == [[user.email]]

    def test_a_deactivated_account_gets_no_email(
        self, api_client, organization, mailoutbox, django_capture_on_commit_callbacks
    ):
        inactive = UserFactory(organization=organization, is_active=False)
        request_reset(api_client, inactive.email, django_capture_on_commit_callbacks)
        assert mailoutbox == []

    def test_an_expired_link_is_refused(self, api_client, user, mailoutbox, django_capture_on_commit_callbacks):
        request_reset(api_client, user.email, django_capture_on_commit_callbacks)
        link = link_in(mailoutbox[0], settings.PASSWORD_RESET_URL)
        later = timezone.now() + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 5)
        with time_machine.travel(later):
            response = api_client.post(RESET_CONFIRM, {**link, "new_password": NEW_PASSWORD})
        assert response.status_code == 400
        assert "token" in response.json()["fields"]
        user.refresh_from_db()
        assert user.check_password(PASSWORD)

    @pytest.mark.parametrize(
        "forge",
        [
            lambda link, other: {**link, "token": link["token"][:-1] + ("0" if link["token"][-1] != "0" else "1")},
            lambda link, other: {**link, "uid": other},  # another account's uid with this token
            lambda link, other: {**link, "uid": "not-base64!"},
            lambda link, other: {**link, "uid": "bm90LWEtdXVpZA"},  # base64 of "not-a-uuid"
            lambda link, other: {**link, "token": "garbage"},
        ],
        ids=["tampered-token", "other-uid", "bad-uid", "uid-not-an-id", "garbage-token"],
    )
    def test_a_forged_link_is_refused(
        self, api_client, user, organization, mailoutbox, django_capture_on_commit_callbacks, forge
    ):
        from accounts.tokens import uid_encode

        other = UserFactory(organization=organization)
        request_reset(api_client, user.email, django_capture_on_commit_callbacks)
        link = forge(link_in(mailoutbox[0], settings.PASSWORD_RESET_URL), uid_encode(other))
        response = api_client.post(RESET_CONFIRM, {**link, "new_password": NEW_PASSWORD})
        assert response.status_code == 400
        assert "token" in response.json()["fields"]
        for account in (user, other):
            account.refresh_from_db()
            assert account.check_password(PASSWORD)

    def test_a_weak_new_password_is_refused_per_field_and_the_link_still_works(
        self, api_client, user, mailoutbox, django_capture_on_commit_callbacks
    ):
        request_reset(api_client, user.email, django_capture_on_commit_callbacks)
        link = link_in(mailoutbox[0], settings.PASSWORD_RESET_URL)
        response = api_client.post(RESET_CONFIRM, {**link, "new_password": "password"})
        assert response.status_code == 400
        assert response.json()["fields"]["new_password"][0]["code"] == "password_too_common"
        assert api_client.post(RESET_CONFIRM, {**link, "new_password": NEW_PASSWORD}).status_code == 204

    def test_throttled_per_address_across_clients(
        self, user, make_client, mailoutbox, throttle_rate, django_capture_on_commit_callbacks
    ):
        throttle_rate("password_reset_address", "2/hour")
        for number in range(2):
            client = make_client()
            client.defaults["REMOTE_ADDR"] = f"10.0.0.{number + 1}"
            request_reset(client, user.email, django_capture_on_commit_callbacks)
        client = make_client()
        client.defaults["REMOTE_ADDR"] = "10.0.0.9"
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(RESET, {"email": f" {user.email.upper()} "})
        assert response.status_code == 429
        assert response.json()["code"] == "throttled"
        assert len(mailoutbox) == 2
        # Another address from that client is still served.
        request_reset(client, "someone.else@example.com", django_capture_on_commit_callbacks)

    def test_throttled_per_client(self, api_client, throttle_rate, django_capture_on_commit_callbacks):
        throttle_rate("password_reset", "2/hour")
        for number in range(2):
            request_reset(api_client, f"person{number}@example.com", django_capture_on_commit_callbacks)
        response = api_client.post(RESET, {"email": "person9@example.com"})
        assert response.status_code == 429
        assert "Retry-After" in response


class TestEmailConfirmation:
    def register(self, api_client, callbacks, email="new.person@example.com"):
        with callbacks(execute=True):
            response = api_client.post(
                "/api/v1/auth/register/", {"email": email, "password": "a-long-unusual-passphrase"}
            )
        assert response.status_code == 201
        assert response.json()["email_verified"] is False
        return User.objects.get(email=email)

    def test_registration_sends_a_link_that_confirms_the_address_once(
        self, api_client, mailoutbox, django_capture_on_commit_callbacks
    ):
        user = self.register(api_client, django_capture_on_commit_callbacks)
        assert [m.to for m in mailoutbox] == [[user.email]]
        link = link_in(mailoutbox[0], settings.EMAIL_CONFIRMATION_URL)
        assert api_client.post(CONFIRM, link).status_code == 204
        user.refresh_from_db()
        assert user.email_verified
        again = api_client.post(CONFIRM, link)
        assert again.status_code == 400
        assert again.json()["fields"]["token"][0]["code"] == "invalid"

    def test_an_unverified_user_signs_in_but_cannot_submit_workloads(
        self, api_client, mailoutbox, django_capture_on_commit_callbacks
    ):
        from tests.workloads.test_workload_api import submission
        from tests.zones.factories import GridZoneFactory

        zone = GridZoneFactory()
        user = self.register(api_client, django_capture_on_commit_callbacks)
        tokens = api_client.post(TOKEN, {"email": user.email, "password": "a-long-unusual-passphrase"}).json()
        client = bearer(api_client, tokens["access"])
        response = client.post("/api/v1/workloads/", submission(zone), format="json")
        assert response.status_code == 403
        assert response.json()["code"] == "email_not_verified"
        assert "Confirm your email address" in response.json()["message"]
        assert user.workloads.count() == 0
        client.post(CONFIRM, link_in(mailoutbox[0], settings.EMAIL_CONFIRMATION_URL))
        assert client.post("/api/v1/workloads/", submission(zone), format="json").status_code == 201

    def test_the_setting_can_refuse_unverified_sign_in(self, api_client, settings, django_capture_on_commit_callbacks):
        user = self.register(api_client, django_capture_on_commit_callbacks)
        settings.ACCOUNTS_ALLOW_UNVERIFIED_SIGN_IN = False
        response = api_client.post(TOKEN, {"email": user.email, "password": "a-long-unusual-passphrase"})
        assert response.status_code == 403
        assert response.json()["code"] == "email_not_verified"
        assert not OutstandingToken.objects.filter(user=user).exists()

    def test_an_email_change_takes_effect_only_when_confirmed(
        self, make_client, user, mailoutbox, django_capture_on_commit_callbacks
    ):
        old_email = user.email
        client = make_client(user)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.patch(ME, {"email": "New.Address@Example.com"})
        assert response.status_code == 200
        assert response.json()["email"] == old_email
        assert response.json()["pending_email"] == "new.address@example.com"
        user.refresh_from_db()
        assert user.email == old_email
        assert [m.to for m in mailoutbox] == [["new.address@example.com"]]
        assert make_client().post(TOKEN, {"email": "new.address@example.com", "password": PASSWORD}).status_code == 401

        link = link_in(mailoutbox[0], settings.EMAIL_CONFIRMATION_URL)
        assert make_client().post(CONFIRM, link).status_code == 204
        user.refresh_from_db()
        assert (user.email, user.pending_email, user.email_verified) == ("new.address@example.com", "", True)
        sign_in(make_client(), "new.address@example.com")
        assert make_client().post(CONFIRM, link).status_code == 400

    def test_a_newer_change_spends_the_older_link(
        self, make_client, user, mailoutbox, django_capture_on_commit_callbacks
    ):
        client = make_client(user)
        for address in ("first@example.com", "second@example.com"):
            with django_capture_on_commit_callbacks(execute=True):
                client.patch(ME, {"email": address})
        first = link_in(mailoutbox[0], settings.EMAIL_CONFIRMATION_URL)
        assert make_client().post(CONFIRM, first).status_code == 400
        user.refresh_from_db()
        assert user.email != "first@example.com"

    def test_an_address_taken_in_the_meantime_is_refused(
        self, make_client, user, organization, mailoutbox, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            make_client(user).patch(ME, {"email": "wanted@example.com"})
        UserFactory(organization=organization, email="wanted@example.com")
        response = make_client().post(CONFIRM, link_in(mailoutbox[0], settings.EMAIL_CONFIRMATION_URL))
        assert response.status_code == 400
        assert "email" in response.json()["fields"]

    def test_an_expired_link_is_refused(self, api_client, mailoutbox, django_capture_on_commit_callbacks):
        user = self.register(api_client, django_capture_on_commit_callbacks)
        link = link_in(mailoutbox[0], settings.EMAIL_CONFIRMATION_URL)
        later = timezone.now() + timedelta(seconds=settings.EMAIL_CONFIRMATION_TIMEOUT + 5)
        with time_machine.travel(later):
            assert api_client.post(CONFIRM, link).status_code == 400
        user.refresh_from_db()
        assert not user.email_verified

    def test_a_reset_link_is_not_a_confirmation_link(self, api_client, mailoutbox, django_capture_on_commit_callbacks):
        user = self.register(api_client, django_capture_on_commit_callbacks)
        request_reset(api_client, user.email, django_capture_on_commit_callbacks)
        reset_link = link_in(mailoutbox[1], settings.PASSWORD_RESET_URL)
        assert api_client.post(CONFIRM, reset_link).status_code == 400

    def test_resend_is_throttled_and_refused_when_confirmed(
        self, api_client, make_client, throttle_rate, mailoutbox, django_capture_on_commit_callbacks
    ):
        user = self.register(api_client, django_capture_on_commit_callbacks)
        throttle_rate("email_confirmation_resend", "1/hour")
        client = make_client(user)
        with django_capture_on_commit_callbacks(execute=True):
            assert client.post(RESEND).status_code == 202
            assert client.post(RESEND).status_code == 429
        assert len(mailoutbox) == 2
        # The newest link works (an older one still does too until one is used).
        assert api_client.post(CONFIRM, link_in(mailoutbox[1], settings.EMAIL_CONFIRMATION_URL)).status_code == 204
        cache_clear_and_resend = make_client(user)
        from django.core.cache import cache

        cache.clear()
        response = cache_clear_and_resend.post(RESEND)
        assert response.status_code == 409
        assert response.json()["code"] == "conflict"


class TestLogoutEverywhere:
    def test_revokes_every_refresh_and_access_token_of_the_caller_only(self, make_client, user, organization):
        other = UserFactory(organization=organization)
        sessions = [sign_in(make_client(), user.email) for _ in range(3)]
        bystander = sign_in(make_client(), other.email)
        response = bearer(make_client(), sessions[0]["access"]).post(EVERYWHERE)
        assert response.status_code == 204
        for session in sessions:
            assert make_client().post(REFRESH, {"refresh": session["refresh"]}).status_code == 401
            refused = bearer(make_client(), session["access"]).get(ME)
            assert refused.status_code == 401
            assert refused.json()["code"] == "token_not_valid"
        assert BlacklistedToken.objects.filter(token__user=user).count() == 3
        assert bearer(make_client(), bystander["access"]).get(ME).status_code == 200
        assert make_client().post(REFRESH, {"refresh": bystander["refresh"]}).status_code == 200
        sign_in(make_client(), user.email)  # signing in again works
