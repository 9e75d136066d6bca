"""How the notifications app reacts to other apps' signals (connected in ``NotificationsConfig.ready``)."""

from django.dispatch import receiver

from accounts.signals import account_erasing
from notifications import services


@receiver(account_erasing, dispatch_uid="notifications.forget_notifications_of_erased_account")
def forget_notifications_of_erased_account(sender, user, placeholder, **kwargs):
    services.notifications_forget(user=user)
