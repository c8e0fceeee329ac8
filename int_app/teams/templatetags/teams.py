from django import template
from django.conf import settings

from int_app.teams.demo import demo_accounts as all_demo_accounts
from int_app.teams.models import Membership
from int_app.teams.roles import Right, role_has_right

register = template.Library()


@register.simple_tag
def demo_accounts() -> list[dict[str, str]]:
    """The demo logins, listed on the login page in demo mode only."""
    return all_demo_accounts() if settings.DEMO_MODE else []


@register.filter
def has_right(membership: Membership, right: str) -> bool:
    """Whether the role held in this membership's team carries the right:
    `{% if membership|has_right:"build_agenda" %}`. A misspelt right is an error, not a quiet no."""
    return role_has_right(membership.role, Right(right))


@register.simple_tag
def sign_in_options() -> dict[str, bool]:
    """What the login page offers: NHS CIS2 when it is configured, passwords unless switched off."""
    from int_app.teams.cis2 import is_configured

    return {"cis2": is_configured(), "passwords": settings.INT_LOCAL_PASSWORDS}
