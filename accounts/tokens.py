"""Single-use, expiring tokens for the links Pylon emails (Django's token generator).

A link carries ``uid`` (the user's id, base64) and ``token``. A token is an HMAC of the account's
state with a timestamp, so nothing is stored, a forged one fails the HMAC, and a used one fails
because using it changes the state it hashed: the password (reset) or the address and its
confirmation time (email confirmation).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator, default_token_generator
from django.core.exceptions import ValidationError
from django.utils.crypto import constant_time_compare
from django.utils.encoding import force_bytes, force_str
from django.utils.http import base36_to_int, urlsafe_base64_decode, urlsafe_base64_encode

from accounts.models import User

password_reset_tokens = default_token_generator


class EmailConfirmationTokenGenerator(PasswordResetTokenGenerator):
    key_salt = "accounts.tokens.EmailConfirmationTokenGenerator"

    def _make_hash_value(self, user, timestamp):
        # The address being confirmed and whether it already is: confirming (or asking to confirm
        # another address) changes them, which spends every token made before.
        return f"{user.pk}{timestamp}{user.email}{user.pending_email}{user.email_verified_at}"

    def check_token(self, user, token):
        # Django's check, with this generator's own lifetime instead of PASSWORD_RESET_TIMEOUT.
        try:
            timestamp = base36_to_int(token.split("-")[0])
        except (ValueError, AttributeError):
            return False
        if not any(
            constant_time_compare(self._make_token_with_timestamp(user, timestamp, secret), token)
            for secret in [self.secret, *self.secret_fallbacks]
        ):
            return False
        return self._num_seconds(self._now()) - timestamp <= settings.EMAIL_CONFIRMATION_TIMEOUT


email_confirmation_tokens = EmailConfirmationTokenGenerator()


def uid_encode(user: User) -> str:
    return urlsafe_base64_encode(force_bytes(user.pk))


def user_from_link(*, uid: str, token: str, generator: PasswordResetTokenGenerator) -> User | None:
    """The active person's account a link's ``uid`` names, if ``token`` is valid for it now; else None."""
    try:
        pk = force_str(urlsafe_base64_decode(uid))
        user = User.objects.filter(pk=pk, is_active=True).first()
    except (ValueError, TypeError, OverflowError, UnicodeDecodeError, ValidationError):  # not an id: forged
        return None
    if user is None or not user.is_person or not generator.check_token(user, token):
        return None
    return user
