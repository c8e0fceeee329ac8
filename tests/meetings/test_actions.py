"""Key workers follow actions through: one-tap status changes, a dated history, and no
silently lost updates when two people change the same action."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from int_app.teams.roles import Role
from meetings.models import Action, ActionConflict, TransitionNotAllowed

from ..conftest import member
from .factories import active_resident, make_action


@pytest.fixture
def resident(own_team):
    return active_resident(own_team, family_name="Followed")


@pytest.fixture
def action(resident, social_worker) -> Action:
    return make_action(resident, owner=social_worker, description="Ring the daughter about respite care")


def test_the_owner_starts_then_finishes_an_action_and_each_change_is_kept(client, social_worker, action):
    client.force_login(social_worker)
    client.post(reverse("meetings:action_status", args=[action.resident.team.slug, action.pk]), {"to": "in_progress", "comment": "Left a message", "version": 1})
    client.post(reverse("meetings:action_status", args=[action.resident.team.slug, action.pk]), {"to": "done", "comment": "Respite booked", "version": 2})
    action.refresh_from_db()
    assert (action.status, action.version) == ("done", 3) and action.completed_at is not None
    history = [(u.author, u.from_status, u.to_status, u.comment) for u in action.updates.all()]
    assert history[1:] == [
        (social_worker, "open", "in_progress", "Left a message"),
        (social_worker, "in_progress", "done", "Respite booked"),
    ]


def test_a_one_tap_change_swaps_only_the_action_card(client, social_worker, action):
    client.force_login(social_worker)
    response = client.post(
        reverse("meetings:action_status", args=[action.resident.team.slug, action.pk]), {"to": "done", "version": 1}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith(f'<div class="nhsuk-card app-action-card" id="action-{action.pk}"')
    assert "Action marked done." in response.text


def test_cancelling_needs_a_reason(client, social_worker, action):
    client.force_login(social_worker)
    response = client.post(reverse("meetings:action_status", args=[action.resident.team.slug, action.pk]), {"to": "cancelled", "version": 1})
    assert "Say why the action is cancelled." in response.text
    action.refresh_from_db()
    assert action.status == "open"
    client.post(reverse("meetings:action_status", args=[action.resident.team.slug, action.pk]), {"to": "cancelled", "comment": "Moved out of area", "version": 1})
    action.refresh_from_db()
    assert (action.status, action.cancel_reason) == ("cancelled", "Moved out of area")


def test_done_and_cancelled_are_final(action, social_worker):
    action.change_status(to="done", by=social_worker, comment="", expected_version=1)
    with pytest.raises(TransitionNotAllowed, match="An action that is done cannot become open"):
        action.change_status(to="open", by=social_worker, comment="", expected_version=2)


def test_the_second_of_two_simultaneous_saves_is_refused_with_both_versions_shown(client, own_team, action, social_worker, coordinator):
    # Both open the action at version 1.
    client.force_login(coordinator)
    client.post(reverse("meetings:action_status", args=[action.resident.team.slug, action.pk]), {"to": "in_progress", "comment": "Chased by phone", "version": 1})
    client.force_login(social_worker)
    response = client.post(reverse("meetings:action_status", args=[action.resident.team.slug, action.pk]), {"to": "done", "comment": "All sorted", "version": 1})
    assert response.status_code == 409
    assert "Someone else changed this action while you had it open" in response.text
    assert "Nothing you entered was saved." in response.text
    theirs = response.text.split('app-conflict__theirs">')[1].split("<")[0]
    yours = response.text.split('app-conflict__yours">')[1].split("<")[0]
    assert (theirs, yours) == ("In progress", "Done")
    assert "Chased by phone" in response.text and "All sorted" in response.text
    action.refresh_from_db()
    assert (action.status, action.version, action.updates.count()) == ("in_progress", 2, 2)


@pytest.mark.parametrize(
    ("first", "theirs_shown"),
    [
        ({"to": "done", "comment": "Respite booked"}, "Done"),
        ({"to": "cancelled", "comment": "Moved to a care home"}, "Cancelled"),
    ],
)
def test_marking_done_an_action_someone_has_just_finished_or_cancelled_shows_both_versions(
    client, action, social_worker, coordinator, first, theirs_shown
):
    # Both had the action open at version 1; the coordinator's press arrived first.
    client.force_login(coordinator)
    client.post(reverse("meetings:action_status", args=[action.resident.team.slug, action.pk]), {**first, "version": 1})
    client.force_login(social_worker)
    response = client.post(reverse("meetings:action_status", args=[action.resident.team.slug, action.pk]), {"to": "done", "comment": "All sorted", "version": 1})
    assert response.status_code == 409
    assert "Someone else changed this action while you had it open" in response.text
    assert "cannot become" not in response.text
    theirs = response.text.split('app-conflict__theirs">')[1].split("<")[0]
    yours = response.text.split('app-conflict__yours">')[1].split("<")[0]
    assert (theirs, yours) == (theirs_shown, "Done")
    assert first["comment"] in response.text and "All sorted" in response.text
    action.refresh_from_db()
    assert (action.version, action.updates.count()) == (2, 2)


def test_editing_an_action_its_owner_has_just_finished_shows_both_versions(client, action, social_worker, coordinator):
    client.force_login(social_worker)
    client.post(reverse("meetings:action_status", args=[action.resident.team.slug, action.pk]), {"to": "done", "comment": "Respite booked", "version": 1})
    client.force_login(coordinator)
    response = client.post(
        reverse("meetings:action_edit", args=[action.resident.team.slug, action.pk]),
        {
            "description": "Ring the son instead",
            "owner": social_worker.pk,
            "due_date": (timezone.localdate() + dt.timedelta(days=3)).isoformat(),
            "version": 1,
        },
    )
    assert response.status_code == 409
    assert "Someone else changed this action while you had it open" in response.text
    assert "Ring the son instead" in response.text and "Ring the daughter about respite care" in response.text
    action.refresh_from_db()
    assert (action.status, action.description) == ("done", "Ring the daughter about respite care")


def test_the_conflict_is_a_database_level_check_not_a_read_then_write(action, social_worker, coordinator):
    stale = Action.objects.get(pk=action.pk)
    action.change_status(to="in_progress", by=coordinator, comment="", expected_version=1)
    with pytest.raises(ActionConflict) as refused:
        stale.change_status(to="done", by=social_worker, comment="", expected_version=1)
    assert refused.value.theirs.status == "in_progress"
    assert refused.value.yours["status"] == "Done"


def test_editing_an_action_keeps_the_history_and_refuses_a_stale_edit(client, action, social_worker, coordinator, own_team):
    ot = member(own_team, Role.OCCUPATIONAL_THERAPIST)
    new_due = timezone.localdate() + dt.timedelta(days=14)
    client.force_login(coordinator)
    response = client.post(
        reverse("meetings:action_edit", args=[action.resident.team.slug, action.pk]),
        {"description": action.description, "owner": ot.pk, "due_date": new_due.isoformat(), "comment": "OT has capacity", "version": 1},
    )
    assert response.status_code == 302
    client.force_login(social_worker)
    stale = client.post(
        reverse("meetings:action_edit", args=[action.resident.team.slug, action.pk]),
        {"description": "Ring the son instead", "owner": social_worker.pk, "due_date": new_due.isoformat(), "version": 1},
    )
    assert stale.status_code == 403, "the action is no longer theirs"
    client.force_login(coordinator)
    stale = client.post(
        reverse("meetings:action_edit", args=[action.resident.team.slug, action.pk]),
        {"description": "Ring the son instead", "owner": ot.pk, "due_date": new_due.isoformat(), "version": 1},
    )
    assert stale.status_code == 409
    assert "Ring the son instead" in stale.text and "Ring the daughter about respite care" in stale.text
    action.refresh_from_db()
    assert (action.owner, action.due_date, action.description) == (ot, new_due, "Ring the daughter about respite care")
    assert "Changed owner to" in action.updates.last().comment


def test_only_the_owner_or_the_coordinator_changes_an_action(client, own_team, action):
    for role in (Role.GP, Role.OCCUPATIONAL_THERAPIST, Role.NEIGHBOURHOOD_EXPERT):
        client.force_login(member(own_team, role))
        assert client.post(reverse("meetings:action_status", args=[action.resident.team.slug, action.pk]), {"to": "done", "version": 1}).status_code == 403
    action.refresh_from_db()
    assert action.status == "open"


def test_my_actions_lists_overdue_first_then_this_week_then_later(client, own_team, resident, social_worker):
    today = timezone.localdate()
    days_left_this_week = 6 - today.weekday()
    later = make_action(resident, owner=social_worker, due_in_days=days_left_this_week + 10, description="Later one")
    overdue = make_action(resident, owner=social_worker, due_in_days=-3, description="Overdue one")
    this_week = make_action(resident, owner=social_worker, due_in_days=days_left_this_week, description="This week one")
    make_action(resident, owner=social_worker, due_in_days=-10, status="done", description="Done one")
    make_action(resident, owner=member(own_team, Role.GP), due_in_days=1, description="Someone else's")
    client.force_login(social_worker)
    page = client.get(reverse("meetings:my_actions")).text
    positions = [page.index(text) for text in ("Overdue one", "This week one", "Later one")]
    assert positions == sorted(positions)
    assert "Done one" not in page and "Someone else&#x27;s" not in page
    assert page.index(f'id="action-{overdue.pk}"') < page.index(f'id="action-{this_week.pk}"') < page.index(f'id="action-{later.pk}"')


def test_my_actions_reads_in_a_fixed_number_of_queries(client, resident, social_worker, django_assert_max_num_queries):
    for n in range(20):
        make_action(resident, owner=social_worker, due_in_days=n - 5)
    client.force_login(social_worker)
    # Session, user, teams, memberships, actions, navigation, and the session's save.
    with django_assert_max_num_queries(10):
        response = client.get(reverse("meetings:my_actions"))
    assert response.text.count("app-action-card__buttons") == 20


def test_a_pcn_lead_has_no_actions_page(client, pcn_lead):
    client.force_login(pcn_lead)
    assert client.get(reverse("meetings:my_actions")).status_code == 403
