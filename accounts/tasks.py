"""Celery tasks that send the account emails: thin wrappers around ``accounts.emails``.

They take a user id (no address, no token: the message is built from the account as it is when the
task runs), skip accounts that are gone or deactivated, and retry a mail server that is down or
refusing for now with a bounded, jittered backoff.
"""

import smtplib

from celery import shared_task
from django.db import InterfaceError, OperationalError

from accounts import emails, selectors

RETRY = {
    # OSError covers refused and timed-out connections to the SMTP server.
    "autoretry_for": (smtplib.SMTPException, OSError, OperationalError, InterfaceError),
    "retry_backoff": 5,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 6,
}


@shared_task(**RETRY)
def send_password_reset_email(user_id: str) -> None:
    user = selectors.user_for_email(user_id=user_id)
    if user is not None:
        emails.password_reset_email_send(user=user)


@shared_task(**RETRY)
def send_email_confirmation(user_id: str) -> None:
    user = selectors.user_for_email(user_id=user_id)
    if user is not None:
        emails.email_confirmation_send(user=user)
