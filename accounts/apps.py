from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _operators_group_refresh(sender, using="default", **kwargs):
    # An existing Operators group gains what OPERATOR_ADMIN_PERMISSIONS has gained since (a new admin
    # page), at the deploy's migrate: each app's permissions exist once its own signal has run.
    from accounts.services import operator_group_refresh

    operator_group_refresh(using=using)


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and organisations"

    def ready(self):
        from accounts import handlers  # noqa: F401 (registers the outbox handlers)

        post_migrate.connect(_operators_group_refresh, dispatch_uid="accounts.operators_group_refresh")
