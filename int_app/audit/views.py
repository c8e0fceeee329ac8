from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from caseload.models import Resident
from int_app.teams.models import Team
from int_app.teams.roles import Right, has_right

from .models import ResidentAccess


@require_GET
def resident_access_log(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    # The team is in the address, as on the caseload pages: another team's member gets "not
    # found", a member of this team without the right gets "forbidden".
    team = get_object_or_404(Team.objects.visible_to(request.user), slug=slug)
    if not has_right(request.user, team, Right.VIEW_ACCESS_LOG):
        raise PermissionDenied("Only the team's coordinator can see who opened a record.")
    resident = get_object_or_404(Resident.objects.visible_to(request.user).filter(team=team), pk=pk)
    accesses = ResidentAccess.objects.visible_to(request.user, Right.VIEW_ACCESS_LOG).for_resident(resident.pk)
    page = Paginator(accesses, 50).get_page(request.GET.get("page"))
    return render(request, "audit/resident_access_log.html", {"resident": resident, "page": page})
