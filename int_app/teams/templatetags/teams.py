from django import template
from django.conf import settings

from int_app.teams.demo import demo_accounts as all_demo_accounts

register = template.Library()


@register.simple_tag
def demo_accounts() -> list[dict[str, str]]:
    """The demo logins, listed on the login page in demo mode only."""
    return all_demo_accounts() if settings.DEMO_MODE else []
