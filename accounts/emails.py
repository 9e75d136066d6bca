"""The account emails: what they say (templates, plain text and HTML) and their links.

Called by ``accounts.handlers`` for an outbox event (in a worker, never in a request): the token is
made when the message is sent, so no token is in the event log or the broker, and a resend makes a
fresh one.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from accounts.models import User
from accounts.tokens import email_confirmation_tokens, password_reset_tokens, uid_encode


def _link(base_url: str, user: User, token: str) -> str:
    separator = "&" if "?" in base_url else "?"
    return f"{base_url}{separator}{urlencode({'uid': uid_encode(user), 'token': token})}"


def _send(*, template: str, to: str, subject: str, context: dict) -> None:
    context = {**context, "subject": subject}
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"accounts/email/{template}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
    )
    message.attach_alternative(render_to_string(f"accounts/email/{template}.html", context), "text/html")
    message.send()


def password_reset_email_send(*, user: User) -> None:
    link = _link(settings.PASSWORD_RESET_URL, user, password_reset_tokens.make_token(user))
    _send(
        template="password_reset",
        to=user.email,
        subject="Reset your Pylon password",
        context={"user": user, "link": link, "valid_minutes": settings.PASSWORD_RESET_TIMEOUT // 60},
    )


def email_confirmation_send(*, user: User) -> None:
    """Ask the address being confirmed (a pending new one, else the account's) to prove it is theirs."""
    address = user.pending_email or user.email
    link = _link(settings.EMAIL_CONFIRMATION_URL, user, email_confirmation_tokens.make_token(user))
    _send(
        template="email_confirmation",
        to=address,
        subject="Confirm your email address for Pylon",
        context={
            "user": user,
            "link": link,
            "address": address,
            "is_change": bool(user.pending_email),
            "valid_hours": settings.EMAIL_CONFIRMATION_TIMEOUT // 3600,
        },
    )
