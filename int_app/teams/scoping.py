"""What a person is told when they ask for something of a team: the one rule for every view.

A right is held in a team, by the person's role there (`Team.objects.with_right`), and every
team-owned model fetches through `Model.objects.visible_to(user, right)`. What someone without
the right gets depends on whether the address names the team:

- it does (`/caseload/teams/<slug>/...`, `/meetings/teams/<slug>/...`): they are in the team or
  they are not, and saying so reveals nothing. Someone not in it finds nothing (404); a member
  whose role there lacks the right is forbidden (403), whether or not the object exists. An
  object of another team under this team's slug is not found (404).
- it does not (`/caseload/service-use/imports/<pk>/`): "forbidden" would confirm that the object
  exists, so it is fetched through `visible_to(user, right)` and is simply not found (404).

Pages about the person's own work across their teams (the meeting list, their actions) name no
object: they list what `with_right` gives, and are forbidden (403) to someone who holds the
right in none of their teams.
"""

from __future__ import annotations

from typing import TypeVar

from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404
from django.shortcuts import get_object_or_404

from .models import Team, User
from .roles import Right, has_right

M = TypeVar("M", bound=models.Model)


def team_for(user: User, slug: str, right: Right) -> Team:
    """The team the address names: not found (404) unless the person is in it, forbidden (403)
    when their role there does not carry `right`."""
    # The person's teams come with their memberships, read once a request for every rights check
    # and the header: a team they belong to costs no query of its own.
    team = next((m.team for m in user.memberships_with_teams() if m.team.slug == slug), None) if user.is_authenticated else None
    if team is None:
        team = get_object_or_404(Team.objects.visible_to(user), slug=slug)
    if not has_right(user, team, right):
        raise PermissionDenied
    return team


def object_in_team(scoped: models.QuerySet[M], *, user: User, right: Right, slug: str, team: str, **lookup) -> M:
    """One object of the team the address names.

    `scoped` is `Model.objects.visible_to(user, right)` (with any select_related), and `team` the
    lookup from the model to its team ("team", "meeting__team", "resident__team"). The usual
    answer costs one query; only when nothing is found does `team_for` say whether that is
    because the person is not in the team (404), lacks the right there (403), or the object does
    not exist in that team (404)."""
    try:
        return scoped.get(**{f"{team}__slug": slug}, **lookup)
    except scoped.model.DoesNotExist:
        team_for(user, slug, right)
        raise Http404(f"No {scoped.model._meta.verbose_name} matches the given query.") from None
