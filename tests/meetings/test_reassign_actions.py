"""When someone leaves: their account is switched off, their sessions end, and the coordinator
hands their open actions on in one form."""

import datetime as dt
import re

import pytest
from django.urls import reverse

from int_app.teams.models import User
from int_app.teams.roles import Role
from meetings.models import Action

from ..conftest import member
from .factories import active_resident, make_action


@pytest.fixture
def leaving(own_team) -> User:
    return member(own_team, Role.SOCIAL_WORKER)


@pytest.fixture
def their_actions(own_team, leaving) -> list[Action]:
    first, second = active_resident(own_team, given_name="Agnes"), active_resident(own_team, given_name="Bert")
    return [
        make_action(first, owner=leaving, description="Book a carers' assessment"),
        make_action(second, owner=leaving, description="Call the housing officer", due_in_days=3),
        make_action(second, owner=leaving, description="Already done", status=Action.Status.DONE),
    ]


def switch_off(user: User, capture) -> None:
    with capture(execute=True):
        user.is_active = False
        user.save(update_fields=["is_active"])


def test_switching_someone_off_tells_the_coordinator_which_actions_to_hand_on(
    client, own_team, leaving, their_actions, mailoutbox, django_capture_on_commit_callbacks
):
    switch_off(leaving, django_capture_on_commit_callbacks)
    coordinator = member(own_team, Role.COORDINATOR)
    assert [message.to for message in mailoutbox] == [[coordinator.email]]
    assert "2 open actions" in mailoutbox[0].body
    link = re.search(r"(/meetings/teams/\S+/reassign/\d+/)", mailoutbox[0].body).group(1)
    assert link == reverse("meetings:reassign_actions", args=[own_team.slug, leaving.pk])
    client.force_login(coordinator)
    home = client.get("/")
    assert link in home.text and "2 open actions" in home.text
    page = client.get(link)
    assert page.status_code == 200
    assert "Book a carers" in page.text and "Call the housing officer" in page.text and "Already done" not in page.text
    assert f'<option value="{leaving.pk}"' not in page.text, "the person leaving is not offered as a new owner"


def test_one_owner_for_all_with_one_exception(client, own_team, leaving, their_actions, django_capture_on_commit_callbacks):
    switch_off(leaving, django_capture_on_commit_callbacks)
    ot, community = member(own_team, Role.OCCUPATIONAL_THERAPIST), member(own_team, Role.COMMUNITY_TRUST)
    first, second, _done = their_actions
    client.force_login(member(own_team, Role.COORDINATOR))
    response = client.post(
        reverse("meetings:reassign_actions", args=[own_team.slug, leaving.pk]),
        {"owner_for_all": ot.pk, f"owner_{second.pk}": community.pk, f"version_{first.pk}": first.version, f"version_{second.pk}": second.version},
    )
    assert response.status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.owner, second.owner) == (ot, community)
    assert first.updates.last().comment.endswith(f"Handed on from {leaving.full_name}.")
    assert "owns no open actions" in client.get(response["Location"]).text


def test_nothing_is_handed_on_when_someone_changed_an_action_in_the_meantime(
    client, own_team, leaving, their_actions, django_capture_on_commit_callbacks
):
    switch_off(leaving, django_capture_on_commit_callbacks)
    ot = member(own_team, Role.OCCUPATIONAL_THERAPIST)
    first, second, _done = their_actions
    seen = {f"version_{first.pk}": first.version, f"version_{second.pk}": second.version}
    coordinator = member(own_team, Role.COORDINATOR)
    # The coordinator, in another tab, moves the second action's due date.
    second.edit(
        by=coordinator, description=second.description, owner=leaving, due_date=second.due_date + dt.timedelta(days=7),
        comment="", expected_version=second.version,
    )
    client.force_login(coordinator)
    response = client.post(
        reverse("meetings:reassign_actions", args=[own_team.slug, leaving.pk]), {"owner_for_all": ot.pk, **seen}
    )
    assert response.status_code == 409
    assert "Nothing was handed on" in response.text and "Call the housing officer" in response.text
    second.refresh_from_db()
    assert second.owner == leaving
    first.refresh_from_db()
    assert first.owner == leaving, "the first action was not handed on either"


def test_choosing_nobody_changes_nothing_and_says_so(client, own_team, leaving, their_actions):
    first, second, _done = their_actions
    client.force_login(member(own_team, Role.COORDINATOR))
    response = client.post(
        reverse("meetings:reassign_actions", args=[own_team.slug, leaving.pk]),
        {f"version_{first.pk}": first.version, f"version_{second.pk}": second.version},
    )
    assert response.status_code == 200 and "Choose a new owner" in response.text
    assert Action.objects.filter(owner=leaving).count() == 3


def test_a_new_owner_must_be_able_to_see_the_resident(client, own_team, leaving, their_actions):
    first, second, _done = their_actions
    lead = member(own_team, Role.PCN_LEAD)
    client.force_login(member(own_team, Role.COORDINATOR))
    response = client.post(
        reverse("meetings:reassign_actions", args=[own_team.slug, leaving.pk]),
        {"owner_for_all": lead.pk, f"version_{first.pk}": first.version, f"version_{second.pk}": second.version},
    )
    assert response.status_code == 200
    assert Action.objects.filter(owner=leaving).count() == 3


def test_only_the_coordinator_hands_on_and_only_people_of_their_team(client, own_team, other_team, leaving, their_actions):
    url = reverse("meetings:reassign_actions", args=[own_team.slug, leaving.pk])
    client.force_login(member(own_team, Role.GP))
    assert client.get(url).status_code == 403
    client.force_login(member(other_team, Role.COORDINATOR))
    assert client.get(url).status_code == 404
    client.force_login(member(own_team, Role.COORDINATOR))
    stranger = member(other_team, Role.SOCIAL_WORKER)
    assert client.get(reverse("meetings:reassign_actions", args=[own_team.slug, stranger.pk])).status_code == 404
