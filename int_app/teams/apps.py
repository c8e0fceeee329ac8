from django.apps import AppConfig


class TeamsConfig(AppConfig):
    name = "int_app.teams"
    label = "teams"
    verbose_name = "Teams and people"
