from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from meetings.services import home_sections
from pressure.services import pressure_banner


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Each of the person's teams, with what their role there leads with (home_role.html asks
    the membership's rights, never its role's name)."""
    memberships = list(request.user.memberships.select_related("team", "organisation").order_by("team__name"))
    memberships = home_sections(user=request.user, memberships=memberships)
    return render(
        request,
        "home/home.html",
        {
            "memberships": memberships,
            "pressure_alerts": pressure_banner(request.user),
        },
    )
