from django.apps import AppConfig


class TeamsConfig(AppConfig):
    name = "int_app.teams"
    label = "teams"
    verbose_name = "Teams and people"

    def ready(self) -> None:
        # signals connects the login and deactivation receivers; checks registers deployment checks.
        from . import checks, signals  # noqa: F401
