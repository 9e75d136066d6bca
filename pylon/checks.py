"""Deploy checks: `manage.py check --deploy` fails while development secrets are in use."""

from django.conf import settings
from django.core.checks import Error, Tags, register

from pylon.settings import DEV_JWT_SIGNING_KEY, DEV_SECRET_KEY


@register(Tags.security, deploy=True)
def check_secrets(app_configs, **kwargs):
    errors = []
    if settings.SECRET_KEY == DEV_SECRET_KEY:
        errors.append(Error("SECRET_KEY is the development default.", hint="Set SECRET_KEY.", id="pylon.E001"))
    signing_key = settings.SIMPLE_JWT["SIGNING_KEY"]
    if signing_key == DEV_JWT_SIGNING_KEY:
        errors.append(
            Error("JWT_SIGNING_KEY is the development default.", hint="Set JWT_SIGNING_KEY.", id="pylon.E002")
        )
    if signing_key == settings.SECRET_KEY:
        errors.append(
            Error(
                "JWT_SIGNING_KEY equals SECRET_KEY.",
                hint="Tokens need their own key, so that one leak does not compromise both.",
                id="pylon.E003",
            )
        )
    if len(signing_key) < 32:
        errors.append(Error("JWT_SIGNING_KEY is shorter than 32 characters.", id="pylon.E004"))
    return errors


@register()
def check_celery_redelivery(app_configs, **kwargs):
    """A message must stay invisible for longer than its task may run, or Redis hands a task that is
    still running to a second worker."""
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    if visibility <= settings.CELERY_TASK_TIME_LIMIT:
        return [
            Error(
                f"CELERY_VISIBILITY_TIMEOUT_SECONDS ({visibility}) must exceed CELERY_TASK_TIME_LIMIT "
                f"({settings.CELERY_TASK_TIME_LIMIT}).",
                hint="Raise the visibility timeout or lower the hard time limit.",
                id="pylon.E005",
            )
        ]
    return []
