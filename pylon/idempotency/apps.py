from django.apps import AppConfig


class IdempotencyConfig(AppConfig):
    name = "pylon.idempotency"
    label = "idempotency"
    verbose_name = "Idempotency keys"
