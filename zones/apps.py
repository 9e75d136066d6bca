from django.apps import AppConfig


class ZonesConfig(AppConfig):
    name = "zones"
    verbose_name = "Grid zones"

    def ready(self):
        from pylon.observability import collectors
        from zones import (
            handlers,  # noqa: F401 (registers the outbox handlers)
            summaries,  # noqa: F401 (a zone saved here drops the kept summaries)
        )
        from zones.metrics import provider_data_age

        collectors.register("carbon_data_age", provider_data_age)
