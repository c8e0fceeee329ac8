from django.apps import AppConfig


class PressureConfig(AppConfig):
    name = "pressure"
    verbose_name = "Practice pressure"
