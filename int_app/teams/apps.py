from django.apps import AppConfig
from django.db.models.signals import post_migrate


class TeamsConfig(AppConfig):
    name = "int_app.teams"
    label = "teams"
    verbose_name = "Teams and people"

    def ready(self) -> None:
        # signals connects the login and deactivation receivers; checks registers deployment checks.
        from . import checks, signals  # noqa: F401
        from .data_version import install_triggers

        # After every app's tables exist: the data version's trigger on each (ADR 0026).
        post_migrate.connect(install_triggers, sender=self, dispatch_uid="int_data_version_triggers")
