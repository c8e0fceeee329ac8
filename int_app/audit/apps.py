from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "int_app.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from . import handlers

        handlers.connect()
