from django.http import HttpRequest

from .roles import Right, role_has_right


def navigation(request: HttpRequest) -> dict:
    """The header's links: the user's teams and what their roles let them open."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    memberships = user.memberships_with_teams()
    rights = {right.value for right in Right for m in memberships if role_has_right(m.role, right)}
    return {"nav_memberships": memberships, "nav_rights": rights}
