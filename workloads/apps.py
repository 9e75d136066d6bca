from django.apps import AppConfig


class WorkloadsConfig(AppConfig):
    name = "workloads"
    verbose_name = "Compute workloads"

    def ready(self):
        from workloads import receivers  # noqa: F401  (connects the signal receivers)
