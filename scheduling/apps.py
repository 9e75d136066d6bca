from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"
    verbose_name = "Scheduling"

    def ready(self):
        from scheduling import handlers, receivers  # noqa: F401 (handlers register themselves)

        receivers.connect()
