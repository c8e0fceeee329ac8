"""The home page (int_app.home, the top layer): the coordinator's next meetings, everyone's open
actions, the GP's sign-offs, each team's card by the rights of the role held there."""

import pytest
from django.urls import reverse

from int_app.teams.roles import Role
from meetings.services import meetings_schedule_ahead, series_create_defaults

from ..conftest import member
from .factories import active_resident, add_item, make_action, make_meeting, record_decision


def test_the_coordinator_sees_the_next_meetings_with_links_to_their_agendas(client, coordinator, own_team):
    series_create_defaults(team=own_team)
    meetings_schedule_ahead()
    client.force_login(coordinator)
    page = client.get("/").text
    assert "Your next meetings" in page and "No meetings are scheduled yet." not in page
    assert page.count("/agenda/") == 4


def test_a_key_worker_sees_their_open_actions_overdue_ones_counted(client, own_team, social_worker):
    resident = active_resident(own_team)
    make_action(resident, owner=social_worker, due_in_days=-2, description="Chase the OT assessment")
    make_action(resident, owner=social_worker, due_in_days=5, description="Visit with the daughter")
    make_action(resident, owner=social_worker, status="done", description="Old and done")
    client.force_login(social_worker)
    page = client.get("/").text
    assert "Chase the OT assessment" in page and "Visit with the daughter" in page and "Old and done" not in page
    assert "1 overdue" in page


def test_a_gp_sees_how_many_decisions_wait_for_sign_off(client, own_team, gp):
    meeting = make_meeting(own_team, days_ahead=-1, published=True)
    item = add_item(meeting, active_resident(own_team))
    record_decision(item, clinical=True)
    record_decision(item, clinical=True)
    client.force_login(gp)
    assert "2 decisions to sign off" in client.get("/").text


def test_the_home_page_reads_in_a_bounded_number_of_queries(client, own_team, other_team, django_assert_max_num_queries):
    from int_app.teams.models import Membership

    gp = member(own_team, Role.GP)
    for team in (own_team, other_team):
        series_create_defaults(team=team)
        resident = active_resident(team)
        for n in range(5):
            make_action(resident, owner=gp, due_in_days=n - 2)
    meetings_schedule_ahead()
    # The GP also coordinates the other team: meetings there, actions in both.
    Membership.objects.create(user=gp, team=other_team, role=Role.COORDINATOR, organisation=gp.memberships.first().organisation)
    client.force_login(gp)
    with django_assert_max_num_queries(12):
        assert client.get(reverse("home")).status_code == 200


def test_each_team_card_leads_with_what_the_role_in_that_team_allows(client, own_team, other_team):
    """The sections follow the rights of the role held in each team (a PCN lead here, an
    occupational therapist there), and a practice manager's card has none of them."""
    from int_app.teams.models import Membership

    lead_here_ot_there = member(own_team, Role.PCN_LEAD)
    Membership.objects.create(user=lead_here_ot_there, team=other_team, role=Role.OCCUPATIONAL_THERAPIST, organisation=lead_here_ot_there.memberships.first().organisation)
    client.force_login(lead_here_ot_there)
    page = client.get(reverse("home")).text
    here, there = page.index(f"<h2 class=\"nhsuk-card__heading\">{own_team.name}"), page.index(f"<h2 class=\"nhsuk-card__heading\">{other_team.name}")
    own_card, other_card = (page[here:there], page[there:]) if here < there else (page[here:], page[there:here])
    assert "Your PCNs" in own_card and "Your open actions" not in own_card
    assert "Your open actions" in other_card and "Your PCNs" not in other_card and "Your next meetings" not in other_card

    client.force_login(member(own_team, Role.PRACTICE_MANAGER))
    page = client.get(reverse("home")).text
    assert not any(section in page for section in ("Your next meetings", "Your PCNs", "Your open actions", "Clinical decisions"))


def test_a_misspelt_right_in_a_template_is_an_error_not_a_quiet_no(own_team):
    from int_app.teams.templatetags.teams import has_right

    coordinator = own_team.memberships.get(role=Role.COORDINATOR)
    assert has_right(coordinator, "build_agenda") and not has_right(coordinator, "sign_clinical_decisions")
    with pytest.raises(ValueError):
        has_right(coordinator, "build_agnda")
