from django.apps import AppConfig


class TeamsConfig(AppConfig):
    name = "int_app.teams"
    label = "teams"
    verbose_name = "Teams and people"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (connects the login and deactivation receivers)
