from django.apps import AppConfig


class HomeConfig(AppConfig):
    """The top layer (ADR 0007): the home page and the demo command, which gather what every app
    below offers. Nothing imports this app."""

    name = "int_app.home"
    label = "home"
    verbose_name = "Home"
