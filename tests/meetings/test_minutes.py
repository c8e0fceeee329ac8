"""Minutes are generated from the meeting, published by the coordinator, then locked: a
correction is a dated addendum."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from int_app.teams.roles import Role
from meetings.models import Meeting

from ..conftest import member
from .factories import active_resident, add_item, make_meeting, record_decision


@pytest.fixture
def held(own_team, coordinator) -> Meeting:
    meeting = make_meeting(own_team, days_ahead=-1, published=True)
    item = add_item(meeting, active_resident(own_team, given_name="Nora", family_name="Minuted"))
    item.record_notes("Falls at home twice this month.")
    record_decision(item, "Refer to the falls clinic", clinical=True)
    add_item(meeting, active_resident(own_team, given_name="Percy", family_name="Later"))
    meeting.attendance.filter(role=Role.GP).update(status="apologies")
    meeting.attendance.filter(role=Role.SOCIAL_WORKER).update(status="deputy", deputy_name="Alex Cover")
    meeting.end()
    return meeting


def test_the_draft_minutes_are_generated_from_the_meeting(client, coordinator, held):
    client.force_login(coordinator)
    page = client.get(reverse("meetings:minutes", args=[held.team.slug, held.pk])).text
    assert "Draft." in page
    assert "Falls at home twice this month." in page
    assert "Refer to the falls clinic" in page and "Clinical, provisional: awaiting GP sign-off" in page
    assert "Apologies" in page and "Alex Cover" in page
    assert page.index("Not reached") < page.index("Percy Later")


def test_published_minutes_are_locked(client, coordinator, held, own_team, mailoutbox, django_capture_on_commit_callbacks):
    client.force_login(coordinator)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("meetings:minutes_publish", args=[held.team.slug, held.pk]))
    held.refresh_from_db()
    assert held.minutes_published_at and held.minutes_published_by == coordinator
    assert len(mailoutbox) == 1 and mailoutbox[0].subject.startswith("Minutes published")

    item = held.items.get(resident__family_name="Minuted")
    refused = client.post(reverse("meetings:item_notes", args=[item.meeting.team.slug, item.pk]), {f"notes-{item.pk}-notes": "Rewritten"}, follow=True)
    assert "The minutes are published and locked: add a dated addendum to correct them." in refused.text
    client.post(reverse("meetings:decision_add", args=[item.meeting.team.slug, item.pk]), {f"decision-{item.pk}-text": "Another"})
    client.post(
        reverse("meetings:action_add", args=[item.meeting.team.slug, item.pk]),
        {
            f"action-{item.pk}-description": "Late action",
            f"action-{item.pk}-owner": member(own_team, Role.SOCIAL_WORKER).pk,
            f"action-{item.pk}-due_date": (timezone.localdate() + dt.timedelta(days=3)).isoformat(),
        },
    )
    client.post(reverse("meetings:item_outcome", args=[item.meeting.team.slug, item.pk]), {"outcome": "not_reached"})
    item.refresh_from_db()
    assert item.notes == "Falls at home twice this month." and item.outcome == "discussed"
    assert item.decisions.count() == 1 and not item.actions.exists()
    assert "already published" in client.post(reverse("meetings:minutes_publish", args=[held.team.slug, held.pk]), follow=True).text


def test_a_correction_after_publication_is_a_dated_addendum(client, coordinator, held):
    client.force_login(coordinator)
    early = client.post(reverse("meetings:minutes_addendum", args=[held.team.slug, held.pk]), {"text": "Too soon"}, follow=True)
    assert "The minutes are not published yet" in early.text
    assert not held.addenda.exists()

    client.post(reverse("meetings:minutes_publish", args=[held.team.slug, held.pk]))
    client.post(reverse("meetings:minutes_addendum", args=[held.team.slug, held.pk]), {"text": "The falls clinic referral is to Heartlands, not Good Hope."})
    addendum = held.addenda.get()
    assert addendum.author == coordinator
    page = client.get(reverse("meetings:minutes", args=[held.team.slug, held.pk])).text
    assert f"{timezone.localtime(addendum.created_at):%-d %B %Y, %H:%M}, {coordinator}" in page
    assert "Heartlands, not Good Hope." in page


def test_the_gp_can_still_sign_off_after_the_minutes_go_out_and_the_minutes_say_so(client, coordinator, gp, held):
    client.force_login(coordinator)
    client.post(reverse("meetings:minutes_publish", args=[held.team.slug, held.pk]))
    decision = held.items.get(resident__family_name="Minuted").decisions.get()
    client.force_login(gp)
    client.post(reverse("meetings:decision_sign", args=[decision.agenda_item.meeting.team.slug, decision.pk]))
    assert f"signed off by {gp}" in client.get(reverse("meetings:minutes", args=[held.team.slug, held.pk])).text


def test_minutes_cannot_be_published_before_the_meeting_ends(client, coordinator, own_team):
    meeting = make_meeting(own_team, days_ahead=0, published=True)
    client.force_login(coordinator)
    response = client.post(reverse("meetings:minutes_publish", args=[meeting.team.slug, meeting.pk]), follow=True)
    assert "End the meeting before publishing its minutes." in response.text
