from django.apps import AppConfig


class PylonConfig(AppConfig):
    name = "pylon"
    verbose_name = "Pylon"

    def ready(self):
        from pylon import checks  # noqa: F401  (registers the deploy checks)
        from pylon.db import asgi as asgi_connections
        from pylon.observability import celery as celery_signals  # noqa: F401  (connects the receivers)
        from pylon.observability import collectors, sources
        from pylon.observability.logging import install_record_factory

        install_record_factory()
        asgi_connections.connect()

        collectors.register("celery_queues", sources.celery_queues)
        collectors.register("outbox", sources.outbox)
        collectors.install()
