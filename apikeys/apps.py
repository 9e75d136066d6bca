from django.apps import AppConfig


class ApiKeysConfig(AppConfig):
    name = "apikeys"
    verbose_name = "API keys"

    def ready(self):
        # Registers the schema's `apiKeyAuth` security scheme (drf-spectacular extension).
        from apikeys import authentication  # noqa: F401
