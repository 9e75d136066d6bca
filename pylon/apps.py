from django.apps import AppConfig


class PylonConfig(AppConfig):
    name = "pylon"
    verbose_name = "Pylon"

    def ready(self):
        from pylon import checks  # noqa: F401  (registers the deploy checks)
