from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Live event stream"

    def ready(self):
        # Registers the schema's `streamTicket` security scheme (drf-spectacular extension).
        from events.api import authentication  # noqa: F401
