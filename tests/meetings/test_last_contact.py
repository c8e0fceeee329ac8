"""The caseload's "No contact in 28 days" counts what the team does in its meetings: a resident
discussed at a meeting, or whose action someone updated, has been in touch with the team."""

import datetime as dt
import importlib
import zoneinfo

import pytest
import time_machine
from django.apps import apps
from django.test import Client
from django.urls import reverse

from caseload.models import Resident
from meetings.services import resident_contacts_refresh

from .factories import active_resident, add_item, make_action, make_meeting

LONDON = zoneinfo.ZoneInfo("Europe/London")


def at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=LONDON)


def discussed_at_a_meeting(client, coordinator, resident: Resident, day: dt.date) -> None:
    """The coordinator types notes for the resident on the meeting screen, that afternoon."""
    with time_machine.travel(at(day, 14), tick=False):
        meeting = make_meeting(resident.team, days_ahead=0, published=True)
        item = add_item(meeting, resident)
        client.force_login(coordinator)
        client.post(reverse("meetings:item_notes", args=[item.meeting.team.slug, item.pk]), {f"notes-{item.pk}-notes": "Seen at home; settled."})


def caseload_rows(user, team, **filters) -> str:
    """The caseload table, as a coordinator opening the page afresh sees it."""
    client = Client()
    client.force_login(user)
    page = client.get(reverse("caseload:list", args=[team.slug]), filters).text
    return page.split('<tbody class="nhsuk-table__body">')[1].split("</tbody>")[0]


# Month ends: the last day of a month going into summer time, and a leap day.
@pytest.mark.parametrize("today", [dt.date(2027, 3, 31), dt.date(2028, 2, 29)], ids=str)
def test_a_discussion_or_an_action_update_counts_as_contact(client, own_team, coordinator, social_worker, today):
    with time_machine.travel(at(today - dt.timedelta(days=40), 10), tick=False):
        recent_talk = active_resident(own_team, given_name="Rita", family_name="Recentlydiscussed")
        old_talk = active_resident(own_team, given_name="Olga", family_name="Longagodiscussed")
        chased = active_resident(own_team, given_name="Cyril", family_name="Recentlychased")
        forgotten = active_resident(own_team, given_name="Fred", family_name="Forgottenaction")
        chased_action = make_action(chased, owner=social_worker)
        make_action(forgotten, owner=social_worker)

    discussed_at_a_meeting(client, coordinator, recent_talk, today - dt.timedelta(days=10))
    discussed_at_a_meeting(client, coordinator, old_talk, today - dt.timedelta(days=29))
    with time_machine.travel(at(today - dt.timedelta(days=10), 11), tick=False):
        client.force_login(social_worker)
        client.post(reverse("meetings:action_status", args=[chased_action.resident.team.slug, chased_action.pk]), {"to": "in_progress", "comment": "Left a message", "version": 1})

    with time_machine.travel(at(today, 10), tick=False):
        no_contact = caseload_rows(coordinator, own_team, no_contact="on")
        everyone = caseload_rows(coordinator, own_team)

    assert "Longagodiscussed, Olga" in no_contact and "Forgottenaction, Fred" in no_contact
    assert "Recentlydiscussed" not in no_contact and "Recentlychased" not in no_contact
    talked_on = today - dt.timedelta(days=10)
    assert "Recentlydiscussed, Rita</a>" in everyone
    assert f"{talked_on.day} {talked_on:%b %Y}" in everyone.split("Recentlydiscussed, Rita")[1].split("</tr>")[0]


@pytest.mark.parametrize("refresh", ["migration", "demo"])
def test_contacts_already_recorded_are_filled_in(own_team, coordinator, social_worker, refresh):
    """Residents discussed and chased before "last contact" counted them get it from those rows:
    the migration that added the field, and the demo's bulk-written history, fill it in."""
    with time_machine.travel(at(dt.date(2027, 1, 14), 15), tick=False):
        meeting = make_meeting(own_team, days_ahead=0, published=True)
        talked = active_resident(own_team, family_name="Talked")
        add_item(meeting, talked, outcome="discussed")
        not_reached = active_resident(own_team, family_name="Waiting")
        add_item(meeting, not_reached, outcome="not_reached")
    with time_machine.travel(at(dt.date(2027, 1, 20), 9), tick=False):
        chased = active_resident(own_team, family_name="Chased")
        make_action(chased, owner=social_worker)
    Resident.objects.update(last_contact_at=None)

    with time_machine.travel(at(dt.date(2027, 2, 1), 9), tick=False):
        if refresh == "migration":
            importlib.import_module("meetings.migrations.0005_fill_resident_last_contact").fill_last_contact(apps, None)
        else:
            resident_contacts_refresh(residents=Resident.objects.filter(team=own_team))

    filled = dict(Resident.objects.filter(team=own_team).values_list("family_name", "last_contact_at"))
    assert filled["Talked"] == at(dt.date(2027, 1, 14), 13), "the meeting's start"
    assert filled["Chased"] == at(dt.date(2027, 1, 20), 9)
    assert filled["Waiting"] is None
