"""The meeting itself: attendance, notes, decisions signed off by the GP, actions, the clock,
other attendees' screens keeping up, and items not reached coming back."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from int_app.teams.roles import Role
from meetings.models import AgendaItem, Attendance, Meeting, TransitionNotAllowed
from meetings.suggestions import agenda_suggestions

from ..conftest import member
from .factories import active_resident, add_item, make_meeting, record_decision


@pytest.fixture
def meeting(own_team) -> Meeting:
    return make_meeting(own_team, days_ahead=0, published=True)


@pytest.fixture
def item(meeting, own_team) -> AgendaItem:
    return add_item(meeting, active_resident(own_team, given_name="Margaret", family_name="Discussed"))


class TestAttendance:
    def test_the_coordinator_records_who_came_by_role(self, client, coordinator, meeting, own_team):
        gp_row = meeting.attendance.get(role=Role.GP)
        ot_row = meeting.attendance.get(role=Role.OCCUPATIONAL_THERAPIST)
        client.force_login(coordinator)
        client.post(
            reverse("meetings:attendance", args=[meeting.team.slug, meeting.pk]),
            {
                f"attendance-{gp_row.pk}-status": "present",
                f"attendance-{ot_row.pk}-status": "deputy",
                f"attendance-{ot_row.pk}-deputy_name": "Sam Deputy",
                **{
                    f"attendance-{row.pk}-status": "apologies"
                    for row in meeting.attendance.exclude(pk__in=[gp_row.pk, ot_row.pk])
                },
            },
        )
        gp_row.refresh_from_db()
        ot_row.refresh_from_db()
        assert gp_row.status == "present"
        assert (ot_row.status, ot_row.deputy_name) == ("deputy", "Sam Deputy")
        assert not meeting.attendance.filter(role=Role.PCN_LEAD).exists(), "PCN leads do not attend case meetings"

    def test_a_deputy_without_a_name_is_refused_and_nothing_is_saved(self, client, coordinator, meeting):
        rows = list(meeting.attendance.all())
        client.force_login(coordinator)
        data = {f"attendance-{row.pk}-status": "present" for row in rows}
        data[f"attendance-{rows[0].pk}-status"] = "deputy"
        response = client.post(reverse("meetings:attendance", args=[meeting.team.slug, meeting.pk]), data, headers={"HX-Request": "true"})
        assert "Name the deputy who came for" in response.text
        assert set(meeting.attendance.values_list("status", flat=True)) == {Attendance.Status.NOT_RECORDED}


class TestNotesAndDecisions:
    def test_notes_saved_mark_the_item_discussed(self, client, coordinator, item):
        client.force_login(coordinator)
        response = client.post(
            reverse("meetings:item_notes", args=[item.meeting.team.slug, item.pk]),
            {f"notes-{item.pk}-notes": "Lives alone; daughter visits weekly."},
            headers={"HX-Request": "true"},
        )
        assert response.text.lstrip().startswith(f'<section class="nhsuk-card app-meeting-item app-meeting-item--discussed" id="item-{item.pk}"')
        item.refresh_from_db()
        assert (item.notes, item.outcome) == ("Lives alone; daughter visits weekly.", "discussed")

    def test_a_clinical_decision_is_provisional_until_signed_off(self, client, coordinator, item):
        client.force_login(coordinator)
        response = client.post(
            reverse("meetings:decision_add", args=[item.meeting.team.slug, item.pk]),
            {f"decision-{item.pk}-text": "Start a medication review", f"decision-{item.pk}-is_clinical": "on"},
            follow=True,
        )
        assert "provisional until the GP signs it off" in response.text
        decision = item.decisions.get()
        assert decision.is_clinical and decision.is_provisional and decision.recorded_by == coordinator

    def test_an_empty_decision_is_refused(self, client, coordinator, item):
        client.force_login(coordinator)
        response = client.post(reverse("meetings:decision_add", args=[item.meeting.team.slug, item.pk]), {}, follow=True)
        assert "Write the decision." in response.text
        assert not item.decisions.exists()


class TestGPSignOff:
    def test_the_teams_gp_signs_off_and_the_minutes_show_who_and_when(self, client, gp, item, meeting):
        decision = record_decision(item, "Start a medication review", clinical=True)
        client.force_login(gp)
        response = client.post(reverse("meetings:decision_sign", args=[decision.agenda_item.meeting.team.slug, decision.pk]), headers={"HX-Request": "true"})
        assert response.status_code == 200 and "Signed off" in response.text
        decision.refresh_from_db()
        assert decision.signed_by == gp and decision.signed_at is not None
        meeting.end()
        minutes = client.get(reverse("meetings:minutes", args=[meeting.team.slug, meeting.pk])).text
        assert f"signed off by {gp.full_name} on {timezone.localtime(decision.signed_at):%-d %b %Y, %H:%M}" in minutes

    def test_the_coordinator_and_key_workers_cannot_sign_off(self, client, own_team, item):
        decision = record_decision(item, clinical=True)
        for role in (Role.COORDINATOR, Role.SOCIAL_WORKER, Role.NEIGHBOURHOOD_EXPERT):
            client.force_login(member(own_team, role))
            assert client.post(reverse("meetings:decision_sign", args=[decision.agenda_item.meeting.team.slug, decision.pk])).status_code == 403
        decision.refresh_from_db()
        assert decision.is_provisional

    def test_another_teams_gp_cannot_even_find_the_decision(self, client, other_team, item):
        decision = record_decision(item, clinical=True)
        client.force_login(member(other_team, Role.GP))
        assert client.post(reverse("meetings:decision_sign", args=[decision.agenda_item.meeting.team.slug, decision.pk])).status_code == 404
        decision.refresh_from_db()
        assert decision.is_provisional

    def test_the_model_refuses_a_sign_off_by_anyone_but_the_teams_gp(self, item, own_team, other_team):
        decision = record_decision(item, clinical=True)
        with pytest.raises(TransitionNotAllowed, match="Only a GP of this team"):
            decision.sign_off(by=member(other_team, Role.GP))
        with pytest.raises(TransitionNotAllowed, match="Only a GP of this team"):
            decision.sign_off(by=member(own_team, Role.COORDINATOR))

    def test_a_decision_that_is_not_clinical_needs_no_sign_off_and_a_signed_one_is_not_signed_twice(self, gp, item):
        plain = record_decision(item, clinical=False)
        with pytest.raises(TransitionNotAllowed, match="not clinical"):
            plain.sign_off(by=gp)
        clinical = record_decision(item, clinical=True)
        clinical.sign_off(by=gp)
        with pytest.raises(TransitionNotAllowed, match="Already signed off"):
            clinical.sign_off(by=gp)

    def test_the_gp_sees_the_decisions_awaiting_their_sign_off(self, client, gp, item):
        record_decision(item, "Refer to the memory clinic", clinical=True)
        record_decision(item, "Send a befriender", clinical=False)
        client.force_login(gp)
        page = client.get(reverse("meetings:decisions_awaiting")).text
        assert "Refer to the memory clinic" in page and "Send a befriender" not in page


class TestActionsInTheMeeting:
    def test_an_action_is_created_inline_for_someone_who_can_see_the_resident(self, client, coordinator, item, own_team):
        ot = member(own_team, Role.OCCUPATIONAL_THERAPIST)
        due = timezone.localdate() + dt.timedelta(days=7)
        client.force_login(coordinator)
        client.post(
            reverse("meetings:action_add", args=[item.meeting.team.slug, item.pk]),
            {f"action-{item.pk}-description": "Assess for grab rails", f"action-{item.pk}-owner": ot.pk, f"action-{item.pk}-due_date": due.isoformat()},
        )
        action = item.actions.get()
        assert (action.owner, action.due_date, action.resident, action.status) == (ot, due, item.resident, "open")
        assert action.updates.get().author == coordinator

    def test_an_owner_who_cannot_see_the_resident_is_refused(self, client, coordinator, item, own_team):
        lead = member(own_team, Role.PCN_LEAD)
        client.force_login(coordinator)
        response = client.post(
            reverse("meetings:action_add", args=[item.meeting.team.slug, item.pk]),
            {
                f"action-{item.pk}-description": "Chase the housing referral",
                f"action-{item.pk}-owner": lead.pk,
                f"action-{item.pk}-due_date": (timezone.localdate() + dt.timedelta(days=3)).isoformat(),
            },
            follow=True,
        )
        assert f"{lead} cannot see {item.resident}&#x27;s case, so cannot own an action for them." in response.text
        assert not item.actions.exists()

    def test_someone_from_another_team_cannot_own_the_action(self, item, coordinator, other_team):
        from django.core.exceptions import ValidationError

        from meetings.services import action_create

        with pytest.raises(ValidationError, match="cannot see"):
            action_create(
                item=item, resident=item.resident, description="x", owner=member(other_team, Role.SOCIAL_WORKER),
                due_date=timezone.localdate(), by=coordinator,
            )


class TestTheClock:
    def test_starting_one_item_stops_the_other_and_the_time_is_kept(self, client, coordinator, meeting, item, own_team):
        other = add_item(meeting, active_resident(own_team))
        client.force_login(coordinator)
        client.post(reverse("meetings:item_timer", args=[item.meeting.team.slug, item.pk]), {"timer": "start"})
        AgendaItem.objects.filter(pk=item.pk).update(timer_started_at=timezone.now() - dt.timedelta(seconds=90))
        client.post(reverse("meetings:item_timer", args=[other.meeting.team.slug, other.pk]), {"timer": "start"})
        item.refresh_from_db()
        other.refresh_from_db()
        assert item.timer_started_at is None and item.seconds_used >= 90 and item.timer_stopped_at
        assert other.timer_running and other.outcome == "discussed"
        page = client.get(reverse("meetings:meeting", args=[meeting.team.slug, meeting.pk])).text
        # In London time, as the page writes it: +00:00 in winter, +01:00 in summer.
        assert f'data-running-since="{timezone.localtime(other.timer_started_at).isoformat()}' in page

    def test_the_clock_does_not_start_again_once_the_meeting_has_ended(self, client, coordinator, meeting, item):
        # A stale meeting screen on another device still shows the start button.
        meeting.end()
        client.force_login(coordinator)
        response = client.post(reverse("meetings:item_timer", args=[item.meeting.team.slug, item.pk]), {"timer": "start"}, follow=True)
        assert "The meeting has ended, so its clock cannot start again." in response.text
        item.refresh_from_db()
        assert not item.timer_running and item.outcome == AgendaItem.Outcome.NOT_REACHED


class TestOtherAttendeesScreens:
    def test_an_attendee_sees_new_notes_without_reloading_and_nothing_is_sent_when_nothing_changed(
        self, client, coordinator, item, meeting, own_team
    ):
        client.force_login(member(own_team, Role.SOCIAL_WORKER))
        page = client.get(reverse("meetings:meeting", args=[meeting.team.slug, meeting.pk])).text
        assert 'hx-trigger="every 5s"' in page
        meeting.refresh_from_db()
        poll = f"{reverse('meetings:meeting', args=[meeting.team.slug, meeting.pk])}?since={meeting.version}"
        assert client.get(poll, headers={"HX-Request": "true"}).status_code == 204

        item.record_notes("Daughter is now the main carer.")
        meeting.touch()
        record_decision(item, "Carer's assessment", clinical=False)
        meeting.touch()
        response = client.get(poll, headers={"HX-Request": "true"})
        assert response.status_code == 200
        assert response.text.lstrip().startswith('<div id="live"')
        assert "Daughter is now the main carer." in response.text and "Carer&#x27;s assessment" in response.text

    def test_the_coordinator_gets_the_recording_screen_and_others_a_read_only_one(self, client, coordinator, meeting, item, own_team):
        client.force_login(coordinator)
        assert "Record the decision" in client.get(reverse("meetings:meeting", args=[meeting.team.slug, meeting.pk])).text
        client.force_login(member(own_team, Role.GP))
        assert "Record the decision" not in client.get(reverse("meetings:meeting", args=[meeting.team.slug, meeting.pk])).text


class TestEndingAndCarryingForward:
    def test_items_not_discussed_are_marked_not_reached_and_come_back_next_time(self, client, coordinator, meeting, item, own_team):
        waiting = add_item(meeting, active_resident(own_team, family_name="Waiting"))
        item.record_notes("Discussed.")
        client.force_login(coordinator)
        response = client.post(reverse("meetings:meeting_end", args=[meeting.team.slug, meeting.pk]), follow=True)
        assert "1 item not reached will be suggested for the next meeting." in response.text
        waiting.refresh_from_db()
        meeting.refresh_from_db()
        assert waiting.outcome == AgendaItem.Outcome.NOT_REACHED and meeting.status == Meeting.Status.HELD

        next_meeting = make_meeting(own_team, days_ahead=7)
        carried = next(g for g in agenda_suggestions(meeting=next_meeting) if g.reason == AgendaItem.Reason.NOT_REACHED)
        assert [s.resident for s in carried.suggestions] == [waiting.resident]
        client.post(reverse("meetings:agenda_add", args=[next_meeting.team.slug, next_meeting.pk]), {"resident": waiting.resident.pk, "reason": "not_reached"})
        assert next_meeting.items.get().carried_from == waiting

    def test_nothing_is_recorded_before_the_agenda_is_published(self, client, coordinator, own_team):
        draft = make_meeting(own_team, days_ahead=3)
        draft_item = add_item(draft, active_resident(own_team))
        client.force_login(coordinator)
        response = client.post(reverse("meetings:item_notes", args=[draft_item.meeting.team.slug, draft_item.pk]), {f"notes-{draft_item.pk}-notes": "Too early"}, follow=True)
        assert "Publish the agenda before the meeting is recorded." in response.text
        draft_item.refresh_from_db()
        assert draft_item.notes == ""


class TestClosingAnItemWithNothingDecided:
    """A discussion that ends with neither a decision nor an action is a warning on the meeting
    screen, not a refusal: sometimes the team rightly decides nothing yet."""

    WARNING = "ended with neither a decision nor an action"

    def timer(self, client, item, action: str):
        return client.post(
            reverse("meetings:item_timer", args=[item.meeting.team.slug, item.pk]), {"timer": action}, headers={"HX-Request": "true"}
        )

    def test_stopping_the_clock_on_a_discussion_with_nothing_recorded_warns(self, client, coordinator, item):
        client.force_login(coordinator)
        assert self.WARNING not in self.timer(client, item, "start").text, "not while it is being discussed"
        response = self.timer(client, item, "stop")
        assert response.status_code == 200
        assert self.WARNING in response.text and "Margaret Discussed" in response.text
        item.refresh_from_db()
        assert item.outcome == AgendaItem.Outcome.DISCUSSED and not item.timer_running, "the item is closed all the same"

    def test_a_decision_or_an_action_clears_the_warning(self, client, coordinator, item, own_team):
        client.force_login(coordinator)
        self.timer(client, item, "start")
        self.timer(client, item, "stop")
        response = client.post(
            reverse("meetings:decision_add", args=[item.meeting.team.slug, item.pk]),
            {f"decision-{item.pk}-text": "Watch and wait: review in a month"},
            headers={"HX-Request": "true"},
        )
        assert "Decision recorded." in response.text and self.WARNING not in response.text

        other = add_item(item.meeting, active_resident(own_team))
        self.timer(client, other, "start")
        assert self.WARNING in self.timer(client, other, "stop").text
        response = client.post(
            reverse("meetings:action_add", args=[other.meeting.team.slug, other.pk]),
            {
                f"action-{other.pk}-description": "Phone the daughter",
                f"action-{other.pk}-owner": member(own_team, Role.SOCIAL_WORKER).pk,
                f"action-{other.pk}-due_date": (timezone.localdate() + dt.timedelta(days=7)).isoformat(),
            },
            headers={"HX-Request": "true"},
        )
        assert "Action for" in response.text and self.WARNING not in response.text

    def test_moving_on_to_the_next_resident_warns_on_the_one_left_behind(self, client, coordinator, meeting, item, own_team):
        following = add_item(meeting, active_resident(own_team, given_name="Harold", family_name="Next"))
        client.force_login(coordinator)
        self.timer(client, item, "start")
        response = self.timer(client, following, "start")
        # The new item's card, and the one whose clock stopped, swapped out of band with its warning.
        assert f'id="item-{following.pk}"' in response.text
        assert f'id="item-{item.pk}" aria-labelledby="item-{item.pk}-heading" hx-swap-oob="true"' in response.text
        assert response.text.count(self.WARNING) == 1 and f'id="item-{item.pk}-closure"' in response.text

    def test_the_end_of_the_meeting_lists_the_residents_discussed_with_nothing_decided(self, client, coordinator, meeting, item, own_team):
        decided = add_item(meeting, active_resident(own_team, family_name="Decided"))
        record_decision(decided)
        client.force_login(coordinator)
        # Notes alone make the item discussed.
        client.post(
            reverse("meetings:item_notes", args=[meeting.team.slug, item.pk]), {f"notes-{item.pk}-notes": "Talked it through"}
        )
        page = client.get(reverse("meetings:meeting", args=[meeting.team.slug, meeting.pk])).text
        end = page.split('class="app-end-meeting"', 1)[1]
        assert "Discussed with no decision or action" in end and "Margaret Discussed" in end and "Decided" not in end
        assert self.WARNING not in page, "the clock never ran and the meeting goes on: not yet closed"

        response = client.post(reverse("meetings:meeting_end", args=[meeting.team.slug, meeting.pk]))
        assert response.status_code == 302, "a warning, not a block"
        meeting.refresh_from_db()
        assert meeting.status == Meeting.Status.HELD
        item.refresh_from_db()
        assert item.closed_without_decision_or_action
