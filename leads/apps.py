from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = "CRM"

    def ready(self):
        from leads import signals  # noqa: F401
