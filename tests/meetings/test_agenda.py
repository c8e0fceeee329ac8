"""The coordinator builds the agenda, orders it, publishes it and prints it."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from caseload.models import ServiceUseEvent
from int_app.teams.roles import Role
from meetings.models import Meeting

from ..conftest import member
from .factories import (
    active_resident,
    add_item,
    discussed,
    make_action,
    make_meeting,
    record_decision,
    referred_resident,
    service_use,
)


def agenda_names(meeting: Meeting) -> list[str]:
    return [item.resident.full_name for item in meeting.items.select_related("resident").order_by("position")]


@pytest.fixture
def meeting(own_team) -> Meeting:
    return make_meeting(own_team, days_ahead=5)


def test_the_coordinator_adds_a_suggested_resident_and_their_key_worker_presents(client, coordinator, meeting, own_team, social_worker):
    resident = active_resident(own_team, family_name="Suggested")
    client.force_login(coordinator)
    response = client.post(
        reverse("meetings:agenda_add", args=[meeting.team.slug, meeting.pk]), {"resident": resident.pk, "reason": "due_review"}
    )
    assert response.status_code == 302
    item = meeting.items.get()
    assert (item.resident, item.reason, item.presenter, item.minutes) == (resident, "due_review", social_worker, 10)


def test_an_htmx_add_returns_the_agenda_region_only(client, coordinator, meeting, own_team):
    resident = referred_resident(own_team, family_name="Htmx")
    client.force_login(coordinator)
    response = client.post(
        reverse("meetings:agenda_add", args=[meeting.team.slug, meeting.pk]), {"resident": resident.pk}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="agenda"')
    assert "<html" not in response.text
    assert f"{resident.full_name} added to the agenda." in response.text


def test_another_teams_resident_cannot_be_added(client, coordinator, meeting, other_team):
    theirs = referred_resident(other_team)
    client.force_login(coordinator)
    client.post(reverse("meetings:agenda_add", args=[meeting.team.slug, meeting.pk]), {"resident": theirs.pk})
    assert not meeting.items.exists()


def test_the_coordinator_moves_items_up_and_down_without_javascript(client, coordinator, meeting, own_team):
    first, second, third = (active_resident(own_team, family_name=name) for name in ("First", "Second", "Third"))
    items = [add_item(meeting, resident) for resident in (first, second, third)]
    client.force_login(coordinator)
    client.post(reverse("meetings:item_move", args=[meeting.team.slug, items[2].pk]), {"direction": "up"})
    assert agenda_names(meeting) == [first.full_name, third.full_name, second.full_name]
    client.post(reverse("meetings:item_move", args=[meeting.team.slug, items[0].pk]), {"direction": "down"})
    assert agenda_names(meeting) == [third.full_name, first.full_name, second.full_name]
    client.post(reverse("meetings:item_move", args=[meeting.team.slug, items[2].pk]), {"direction": "up"})  # already first
    assert agenda_names(meeting) == [third.full_name, first.full_name, second.full_name]


def test_dragging_sends_the_whole_new_order(client, coordinator, meeting, own_team):
    items = [add_item(meeting, active_resident(own_team, family_name=name)) for name in ("A", "B", "C")]
    client.force_login(coordinator)
    order = ",".join(str(items[i].pk) for i in (2, 0, 1))
    response = client.post(reverse("meetings:agenda_reorder", args=[meeting.team.slug, meeting.pk]), {"order": order}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert list(meeting.items.order_by("position").values_list("pk", flat=True)) == [items[i].pk for i in (2, 0, 1)]
    assert list(meeting.items.order_by("position").values_list("position", flat=True)) == [1, 2, 3]


def test_a_stale_drag_is_refused_and_changes_nothing(client, coordinator, meeting, own_team):
    items = [add_item(meeting, active_resident(own_team)) for _ in range(3)]
    client.force_login(coordinator)
    response = client.post(reverse("meetings:agenda_reorder", args=[meeting.team.slug, meeting.pk]), {"order": f"{items[1].pk},{items[0].pk}"}, follow=True)
    assert "The agenda changed since the page was loaded" in response.text
    assert list(meeting.items.order_by("position").values_list("pk", flat=True)) == [item.pk for item in items]


def test_removing_an_item_closes_the_gap_and_a_second_click_only_gets_a_message(client, coordinator, meeting, own_team):
    items = [add_item(meeting, active_resident(own_team)) for _ in range(3)]
    client.force_login(coordinator)
    client.post(reverse("meetings:agenda_remove", args=[meeting.team.slug, meeting.pk]), {"item": items[1].pk})
    assert list(meeting.items.order_by("position").values_list("pk", "position")) == [(items[0].pk, 1), (items[2].pk, 2)]
    again = client.post(reverse("meetings:agenda_remove", args=[meeting.team.slug, meeting.pk]), {"item": items[1].pk}, follow=True)
    assert "That resident is no longer on the agenda." in again.text


def test_minutes_and_presenter_are_set_per_item_and_the_total_is_shown_against_the_duration(
    client, coordinator, own_team
):
    meeting = make_meeting(own_team, days_ahead=5, duration_minutes=30)
    items = [add_item(meeting, active_resident(own_team)) for _ in range(2)]
    gp = member(own_team, Role.GP)
    client.force_login(coordinator)
    client.post(reverse("meetings:item_update", args=[meeting.team.slug, items[0].pk]), {"minutes": 25, "presenter": gp.pk})
    items[0].refresh_from_db()
    assert (items[0].minutes, items[0].presenter) == (25, gp)
    page = client.get(reverse("meetings:agenda", args=[meeting.team.slug, meeting.pk])).text
    assert "35 of 30 minutes" in page
    assert "5 minutes over" in page


def test_a_nonsense_number_of_minutes_is_refused_with_a_message(client, coordinator, meeting, own_team):
    item = add_item(meeting, active_resident(own_team))
    client.force_login(coordinator)
    response = client.post(reverse("meetings:item_update", args=[item.meeting.team.slug, item.pk]), {"minutes": 0}, follow=True)
    assert "Allow between 1 and 120 minutes for an item." in response.text
    item.refresh_from_db()
    assert item.minutes == 10


class TestPublishing:
    def test_publishing_emails_the_team_and_freezes_the_order(
        self, client, coordinator, meeting, own_team, mailoutbox, django_capture_on_commit_callbacks
    ):
        items = [add_item(meeting, active_resident(own_team)) for _ in range(2)]
        client.force_login(coordinator)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("meetings:agenda_publish", args=[meeting.team.slug, meeting.pk]))
        assert response.status_code == 302
        meeting.refresh_from_db()
        assert meeting.agenda_published_at and meeting.agenda_published_by == coordinator
        assert len(mailoutbox) == 1
        email = mailoutbox[0]
        assert member(own_team, Role.GP).email in email.to
        assert member(own_team, Role.PCN_LEAD).email not in email.to
        assert "Residents to discuss: 2" in email.body
        assert items[0].resident.family_name not in email.body, "case details stay in the service"

        newcomer = active_resident(own_team)
        client.post(reverse("meetings:agenda_add", args=[meeting.team.slug, meeting.pk]), {"resident": newcomer.pk})
        client.post(reverse("meetings:item_move", args=[meeting.team.slug, items[1].pk]), {"direction": "up"})
        client.post(reverse("meetings:agenda_remove", args=[meeting.team.slug, meeting.pk]), {"item": items[0].pk})
        client.post(reverse("meetings:agenda_reorder", args=[meeting.team.slug, meeting.pk]), {"order": f"{items[1].pk},{items[0].pk}"})
        response = client.get(reverse("meetings:agenda", args=[meeting.team.slug, meeting.pk]))
        assert list(meeting.items.order_by("position").values_list("pk", flat=True)) == [items[0].pk, items[1].pk]
        assert "The order is fixed." in response.text

    def test_publishing_twice_sends_one_email(self, meeting, own_team, coordinator, mailoutbox, django_capture_on_commit_callbacks):
        from meetings.services import agenda_publish
        from meetings.tasks import send_agenda

        add_item(meeting, active_resident(own_team))
        with django_capture_on_commit_callbacks(execute=True):
            agenda_publish(meeting=meeting, by=coordinator)
        send_agenda(meeting.pk)  # a retried task
        assert len(mailoutbox) == 1

    def test_the_coordinator_is_warned_when_publishing_less_than_a_day_ahead(self, client, coordinator, own_team):
        soon = make_meeting(own_team, days_ahead=0)
        soon.starts_at = timezone.now() + dt.timedelta(hours=5)
        soon.save()
        add_item(soon, active_resident(own_team))
        later = make_meeting(own_team, days_ahead=6)
        add_item(later, active_resident(own_team))
        client.force_login(coordinator)
        assert "Less than 24 hours to go" in client.get(reverse("meetings:agenda_publish", args=[soon.team.slug, soon.pk])).text
        assert "Less than 24 hours to go" not in client.get(reverse("meetings:agenda_publish", args=[later.team.slug, later.pk])).text

    def test_an_empty_agenda_is_not_published(self, client, coordinator, meeting):
        client.force_login(coordinator)
        response = client.post(reverse("meetings:agenda_publish", args=[meeting.team.slug, meeting.pk]), follow=True)
        assert "Add at least one resident before publishing the agenda." in response.text
        meeting.refresh_from_db()
        assert meeting.agenda_published_at is None


def test_the_team_prints_the_agenda_with_each_information_pack(client, own_team, meeting):
    resident = active_resident(own_team, family_name="Printed")
    add_item(meeting, resident)
    client.force_login(member(own_team, Role.OCCUPATIONAL_THERAPIST))
    page = client.get(reverse("meetings:agenda_print", args=[meeting.team.slug, meeting.pk])).text
    assert resident.full_name in page and "Service use: last 90 days against the 90 before" in page
    assert "Draft – not yet published" in page


def test_the_information_pack_shows_status_key_worker_consent_actions_decisions_and_service_use(
    client, coordinator, own_team, meeting
):
    resident = active_resident(own_team, family_name="Packed")
    earlier = discussed(resident, days_ago=14)
    record_decision(earlier, "Start the falls prevention programme", clinical=True)
    make_action(resident, description="Book the falls clinic", due_in_days=-1)
    service_use(resident, ServiceUseEvent.Kind.AE_ATTENDANCE, days_ago=10)
    service_use(resident, ServiceUseEvent.Kind.AE_ATTENDANCE, days_ago=20)
    service_use(resident, ServiceUseEvent.Kind.AE_ATTENDANCE, days_ago=120)
    add_item(meeting, resident)
    client.force_login(coordinator)
    page = client.get(reverse("meetings:agenda", args=[meeting.team.slug, meeting.pk])).text
    assert "Active since" in page
    assert resident.key_worker.full_name in page
    assert f"Given {resident.consent_date:%-d %b %Y}" in page
    assert "Book the falls clinic" in page and "Overdue" in page
    assert "Start the falls prevention programme" in page and "Provisional" in page
    pack_row = page.split("A&amp;E attendance</td>")[1].split("</tr>")[0]
    assert [cell.split(">")[-1] for cell in pack_row.split("</td>")[:2]] == ["2", "1"]


def _agenda_of(team, size: int, *, days_ahead: int) -> Meeting:
    meeting = make_meeting(team, days_ahead=days_ahead)
    for n in range(size):
        resident = active_resident(team, family_name=f"Size{size}-{n}")
        earlier = discussed(resident, days_ago=14 + n % 3)
        record_decision(earlier, clinical=n % 2 == 0)
        make_action(resident, due_in_days=n - 3)
        service_use(resident, ServiceUseEvent.Kind.AE_ATTENDANCE, days_ago=5 + n)
        service_use(resident, ServiceUseEvent.Kind.PRIMARY_CARE_APPOINTMENT, days_ago=100 + n)
        add_item(meeting, resident)
        referred_resident(team, family_name=f"Referral{size}-{n}")
    return meeting


def test_the_agenda_page_reads_in_the_same_number_of_queries_for_3_or_30_items(
    client, coordinator, own_team, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    small, large = _agenda_of(own_team, 3, days_ahead=5), _agenda_of(own_team, 30, days_ahead=12)
    client.force_login(coordinator)
    with CaptureQueriesContext(connection) as three:
        assert client.get(reverse("meetings:agenda", args=[small.team.slug, small.pk])).status_code == 200
    with django_assert_max_num_queries(len(three.captured_queries)):
        response = client.get(reverse("meetings:agenda", args=[large.team.slug, large.pk]))
    assert response.text.count('class="nhsuk-card app-agenda-item"') == 30
