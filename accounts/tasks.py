"""The accounts app's Celery tasks: pruning the records of sent account emails, and the account-email
tasks of the release before the outbox carried these emails."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from accounts import services
from outbox.models import EventType


@shared_task
def account_emails_prune() -> int:
    """Delete the records of account emails sent over ``ACCOUNT_EMAIL_RECORD_RETENTION_DAYS`` ago (daily)."""
    return services.account_emails_prune(
        before=timezone.now() - timedelta(days=settings.ACCOUNT_EMAIL_RECORD_RETENTION_DAYS)
    )


# The two tasks below are kept so that the messages a broker still holds at a deploy are not lost:
# each now owes the email through the outbox, as a request does (``accounts.handlers`` sends it,
# once). Remove them once no broker can hold them.


@shared_task
def send_password_reset_email(user_id: str) -> bool:
    return services.account_email_owe(event_type=EventType.ACCOUNT_PASSWORD_RESET_REQUESTED, user_id=user_id)


@shared_task
def send_email_confirmation(user_id: str) -> bool:
    return services.account_email_owe(event_type=EventType.ACCOUNT_EMAIL_CONFIRMATION_REQUESTED, user_id=user_id)
