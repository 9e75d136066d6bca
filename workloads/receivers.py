"""How the workloads app reacts to other apps' signals (connected in ``WorkloadsConfig.ready``)."""

from django.dispatch import receiver

from accounts.signals import account_erasing
from workloads import services


@receiver(account_erasing, dispatch_uid="workloads.keep_workloads_of_erased_account")
def keep_workloads_of_erased_account(sender, user, placeholder, **kwargs):
    services.workloads_owner_anonymise(user=user, placeholder=placeholder)
