"""Deployment checks (`manage.py check --deploy`) for settings Django's own checks do not know."""

from django.conf import settings
from django.core.checks import Tags, Warning, register

PER_PROCESS_CACHES = {
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
}


@register(Tags.caches, deploy=True)
def shared_cache(app_configs, **kwargs) -> list[Warning]:
    """Used TOTP codes and login rate limits live in the cache: kept per process, each gunicorn
    worker would accept the same code once and count failed logins on its own."""
    if settings.CACHES["default"]["BACKEND"] in PER_PROCESS_CACHES:
        return [
            Warning(
                "The cache is per process, so a TOTP code can be used once in each web process and "
                "login rate limits are not shared.",
                hint="Set REDIS_URL: Django's cache is then Redis, shared by every web process.",
                id="int.W001",
            )
        ]
    return []
