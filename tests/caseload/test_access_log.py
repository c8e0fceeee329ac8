"""The access log: every opening of a resident's record and every export holding it is a row the
team's coordinator can read, and nobody can rewrite it."""

import pytest
from django.db import InternalError, transaction
from django.urls import reverse

from caseload.models import ResidentAccess
from int_app.teams.roles import Role

from ..conftest import member
from ..factories import ResidentFactory


def test_opening_a_resident_writes_an_access_row_the_coordinator_can_read(client, own_team, coordinator):
    resident = ResidentFactory(team=own_team)
    social_worker = member(own_team, Role.SOCIAL_WORKER)
    client.force_login(social_worker)
    assert client.get(reverse("caseload:resident", args=[own_team.slug, resident.pk])).status_code == 200
    access = ResidentAccess.objects.get(resident_id=resident.pk)
    assert (access.user, access.page) == (social_worker, ResidentAccess.Page.RESIDENT)
    client.force_login(coordinator)
    log = client.get(reverse("caseload:resident_access_log", args=[own_team.slug, resident.pk]))
    assert social_worker.full_name in log.text


def test_printing_or_opening_the_agenda_logs_every_resident_whose_pack_was_shown(client, own_team, coordinator):
    from ..meetings.factories import active_resident, add_item, make_meeting

    meeting = make_meeting(own_team, days_ahead=5)
    on_agenda = [active_resident(own_team, family_name=name) for name in ("Ahmed", "Byrne")]
    for resident in on_agenda:
        add_item(meeting, resident)
    not_on_agenda = active_resident(own_team, family_name="Clarke")
    gp = member(own_team, Role.GP)
    client.force_login(gp)
    assert client.get(reverse("meetings:agenda_print", args=[meeting.team.slug, meeting.pk])).status_code == 200
    client.force_login(coordinator)
    assert client.get(reverse("meetings:agenda", args=[meeting.team.slug, meeting.pk])).status_code == 200
    # An htmx refresh of the page already open is not another opening.
    client.get(reverse("meetings:agenda", args=[meeting.team.slug, meeting.pk]), headers={"HX-Request": "true"})

    logged = set(ResidentAccess.objects.values_list("user", "resident", "page"))
    assert logged == {
        *((gp.pk, resident.pk, ResidentAccess.Page.EXPORT) for resident in on_agenda),
        *((coordinator.pk, resident.pk, ResidentAccess.Page.INFORMATION_PACK) for resident in on_agenda),
    }
    assert ResidentAccess.objects.count() == 4
    assert not ResidentAccess.objects.filter(resident_id=not_on_agenda.pk).exists()


def test_only_the_coordinator_sees_the_access_log(client, own_team):
    resident = ResidentFactory(team=own_team)
    client.force_login(member(own_team, Role.GP))
    assert client.get(reverse("caseload:resident_access_log", args=[own_team.slug, resident.pk])).status_code == 403


def test_the_application_cannot_alter_or_delete_access_rows(own_team, coordinator):
    resident = ResidentFactory(team=own_team)
    ResidentAccess.objects.create(user=coordinator, resident=resident, page="resident", path="/x")
    for attempt in (
        lambda: ResidentAccess.objects.update(page="export"),
        lambda: ResidentAccess.objects.all().delete(),
    ):
        with pytest.raises(InternalError), transaction.atomic():
            attempt()
    assert ResidentAccess.objects.get().page == "resident"
