"""How the accounts app reacts to outbox events (registered in ``AccountsConfig.ready``): the account
emails. Delivery is at least once; ``services.account_email_send_once`` sends one email per event."""

from accounts import emails, services
from outbox import registry
from outbox.models import EventType, OutboxEvent

SENDERS = {
    EventType.ACCOUNT_EMAIL_CONFIRMATION_REQUESTED: emails.email_confirmation_send,
    EventType.ACCOUNT_PASSWORD_RESET_REQUESTED: emails.password_reset_email_send,
}


@registry.handler(*SENDERS)
def send_the_account_email(event: OutboxEvent) -> None:
    """A mail server that is down raises: the event stays unhandled and the relay delivers it again."""
    services.account_email_send_once(event_id=event.pk, user_id=event.subject_id, send=SENDERS[event.type])
