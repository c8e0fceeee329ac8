"""Every model in the admin, walked as a staff member of one team who holds every permission there
is. A model registered tomorrow is walked too, because the walk reads the admin's own registry."""

import datetime as dt
import zoneinfo
from dataclasses import dataclass

import pytest
import time_machine
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.urls import reverse
from django.utils import timezone

from caseload.models import ImportJob, Intervention, PlannedIntervention, PopulationExtract, Resident, ResidentAccess, SubjectAccessRequest
from int_app.teams.admin import SharedListAdmin, SuperusersOnly, TeamScope
from int_app.teams.invitations import Invitee, invitation_create
from int_app.teams.models import Neighbourhood, Organisation, Place, Practice, Team, User
from int_app.teams.roles import Role
from meetings.models import MinutesAddendum
from pressure.models import PressureAlert, PressureReport, week_start_of

from .caseload.factories import InterventionFactory
from .conftest import member
from .factories import make_team
from .meetings.factories import (
    active_resident,
    add_item,
    make_action,
    make_meeting,
    record_decision,
)

# A Thursday in term time; nothing here depends on the day the suite runs.
MOMENT = dt.datetime(2026, 3, 12, 10, 0, tzinfo=zoneinfo.ZoneInfo("Europe/London"))
# Everything of the other team carries this word, so a page that shows any of it is caught.
ELSEWHERE = "Elsewhere"
REGISTERED = sorted(admin.site._registry, key=lambda model: model._meta.label)


def team_records(team: Team) -> None:
    """One of everything a team owns, made as the app makes it; the audit rows come from the triggers."""
    coordinator = member(team, Role.COORDINATOR)
    resident = active_resident(team)
    resident.add_goal(text="Get to the lunch club on Thursdays", by=coordinator)
    intervention = InterventionFactory(team=team)
    PlannedIntervention.objects.create(resident=resident, intervention=intervention, chosen_by=coordinator)
    meeting = make_meeting(team, days_ahead=-1, published=True)
    record_decision(add_item(meeting, resident))
    make_action(resident)
    MinutesAddendum.objects.create(meeting=meeting, text="The GP sent apologies.", author=coordinator)
    manager = member(team, Role.PRACTICE_MANAGER)
    report = PressureReport.objects.create(
        practice=manager.memberships.get().practice, week_start=week_start_of(timezone.localdate()), level=6, reported_by=manager
    )
    PressureAlert.objects.create(report=report, level=6)
    job = ImportJob.objects.create(file_name="extract.csv", status=ImportJob.Status.DONE)
    job.teams.set([team])
    ResidentAccess.objects.create(user=coordinator, resident=resident, page=ResidentAccess.Page.RESIDENT, path="/r/")
    invitation_create(
        invitee=Invitee(
            email=f"invited@{team.slug}.test", given_name="In", family_name="Vited", team=team,
            role=Role.GP, organisation=Organisation.objects.order_by("pk").first(),
        ),
        by=coordinator,
    )
    SubjectAccessRequest.log(resident=resident, received_on=MOMENT.date(), by=coordinator)
    PopulationExtract.objects.create(team=team, file_name="population.csv", uploaded_by=coordinator)


def registered_rows() -> dict[type[models.Model], set]:
    return {model: set(model._default_manager.values_list("pk", flat=True)) for model in REGISTERED}


@dataclass
class Admins:
    staff: User
    own_rows: dict[type[models.Model], set]
    other_rows: dict[type[models.Model], set]


@pytest.fixture
def world(db):
    """Two teams' records; which rows are whose is read from what each team's making added, not
    from the admin's own idea of it."""
    with time_machine.travel(MOMENT, tick=False):
        before = registered_rows()
        own = make_team("Own")
        team_records(own)
        after_own = registered_rows()
        elsewhere = make_team(ELSEWHERE)
        Neighbourhood.objects.filter(team=elsewhere).update(
            name=f"{ELSEWHERE} neighbourhood", place=Place.objects.create(name=f"{ELSEWHERE} borough")
        )
        for practice in Practice.objects.filter(pcn__neighbourhood__team=elsewhere):
            Practice.objects.filter(pk=practice.pk).update(name=f"{ELSEWHERE} practice {practice.pk}")
        team_records(elsewhere)
        after_other = registered_rows()
        staff = member(own, Role.COORDINATOR)
        staff.is_staff = True
        staff.save(update_fields=["is_staff"])
        staff.user_permissions.set(Permission.objects.all())
        yield Admins(
            staff=staff,
            own_rows={model: after_own[model] - before[model] for model in REGISTERED},
            other_rows={model: after_other[model] - after_own[model] for model in REGISTERED},
        )


def admin_url(model: type[models.Model], view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_every_admin_says_whose_rows_it_shows():
    for model in REGISTERED:
        model_admin = admin.site.get_model_admin(model)
        assert isinstance(model_admin, (TeamScope, SharedListAdmin, SuperusersOnly)), (
            f"{model._meta.label}: use TeamScopedAdmin with a team_path, SharedListAdmin or SuperusersOnly"
        )
        for inline in model_admin.inlines:
            # A superusers-only admin's inline (the pressure scale's levels) is superusers-only too.
            superusers_only = isinstance(model_admin, SuperusersOnly) and issubclass(inline, SuperusersOnly)
            assert issubclass(inline, TeamScope) or superusers_only, f"{inline.__name__} in {model._meta.label}: mix in TeamScope"


@pytest.mark.parametrize("model", REGISTERED, ids=lambda model: model._meta.label)
def test_a_staff_member_of_one_team_sees_only_their_team_in_every_admin(client, world, model):
    model_admin = admin.site.get_model_admin(model)
    client.force_login(world.staff)
    changelist = client.get(admin_url(model, "changelist"))

    if isinstance(model_admin, SuperusersOnly):
        assert changelist.status_code == 403
        assert client.get(admin_url(model, "add")).status_code == 403
        return

    assert changelist.status_code == 200
    assert ELSEWHERE not in changelist.text
    add = client.get(admin_url(model, "add"))
    assert add.status_code in {200, 403}
    assert ELSEWHERE not in add.text

    if isinstance(model_admin, SharedListAdmin):
        # Not a team's: listed whole, read by everyone, changed by superusers only.
        assert add.status_code == 403
        shared = min(world.own_rows[model] | world.other_rows[model])
        assert client.post(admin_url(model, "change", quote(shared)), {}).status_code == 403
        return

    own, other = sorted(world.own_rows[model]), sorted(world.other_rows[model])
    assert own and other, f"team_records() makes no {model._meta.label} for each team: add one so its admin is walked"
    for pk in own:
        assert admin_url(model, "change", quote(pk)) in changelist.text
    for pk in other:
        assert admin_url(model, "change", quote(pk)) not in changelist.text

    own_page = client.get(admin_url(model, "change", quote(own[0])))
    assert own_page.status_code == 200
    # Every choice in the form (teams, people, practices, neighbourhoods) is of the own team.
    assert ELSEWHERE not in own_page.text

    # Another team's row does not exist for them: Django's admin says so and goes back to its index.
    for view in ("change", "history"):
        response = client.get(admin_url(model, view, quote(other[0])))
        assert (response.status_code, response["Location"]) == (302, reverse("admin:index"))
    assert "doesn’t exist" in client.get(admin_url(model, "change", quote(other[0])), follow=True).text
    assert client.get(admin_url(model, "delete", quote(other[0]))).status_code in {302, 403}
    # Nor does Django's "View on site" redirect take them there: not found, as for no object at all.
    assert client.get(view_on_site_url(model, other[0])).status_code == 404


def view_on_site_url(model: type[models.Model], pk) -> str:
    return reverse("admin:view_on_site", args=[ContentType.objects.get_for_model(model).pk, pk])


def test_view_on_site_takes_a_staff_member_to_their_own_teams_entry_and_finds_no_other(client, world):
    own_entry = Intervention.objects.get(pk=min(world.own_rows[Intervention]))
    other_entry = Intervention.objects.get(pk=min(world.other_rows[Intervention]))
    client.force_login(world.staff)

    to_own = client.get(view_on_site_url(Intervention, own_entry.pk))
    assert to_own.status_code == 302 and to_own["Location"].endswith(own_entry.get_absolute_url())
    elsewhere = client.get(view_on_site_url(Intervention, other_entry.pk))
    nowhere = client.get(view_on_site_url(Intervention, 987_654_321))
    assert elsewhere.status_code == nowhere.status_code == 404
    assert other_entry.team.slug not in elsewhere.text
    # A model the admin does not show (residents change only through the caseload pages) is not
    # found, even in their own team; nor is nonsense in the address.
    own_resident = Resident.objects.filter(team=own_entry.team).first()
    assert client.get(view_on_site_url(Resident, own_resident.pk)).status_code == 404
    assert client.get(f"/admin/r/{ContentType.objects.get_for_model(Intervention).pk}/not-a-number/").status_code == 404
    assert client.get(f"/admin/r/not-a-type/{own_entry.pk}/").status_code == 404


def test_a_superuser_is_taken_to_any_teams_object(client, world):
    other_resident = Resident.objects.exclude(team__memberships__user=world.staff).first()
    client.force_login(User.objects.create_superuser("root@example.org", "x", full_name="Root"))
    response = client.get(view_on_site_url(Resident, other_resident.pk))
    assert response.status_code == 302 and response["Location"].endswith(other_resident.get_absolute_url())


def test_view_on_site_is_for_staff_only(client, world):
    own_entry = Intervention.objects.get(pk=min(world.own_rows[Intervention]))
    client.force_login(member(own_entry.team, Role.NEIGHBOURHOOD_EXPERT))
    response = client.get(view_on_site_url(Intervention, own_entry.pk))
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
