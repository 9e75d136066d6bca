"""The account-email tasks of the release before the outbox carried these emails, kept so that the
messages a broker still holds at a deploy are not lost: each now owes the email through the outbox,
as a request does (``accounts.handlers`` sends it, once). Remove once no broker can hold them."""

from celery import shared_task

from accounts import services
from outbox.models import EventType


@shared_task
def send_password_reset_email(user_id: str) -> bool:
    return services.account_email_owe(event_type=EventType.ACCOUNT_PASSWORD_RESET_REQUESTED, user_id=user_id)


@shared_task
def send_email_confirmation(user_id: str) -> bool:
    return services.account_email_owe(event_type=EventType.ACCOUNT_EMAIL_CONFIRMATION_REQUESTED, user_id=user_id)
