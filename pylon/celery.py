"""The one Celery app of the project (cookiecutter-django layout)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pylon.settings")

app = Celery("pylon")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
