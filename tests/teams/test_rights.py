"""Rights are held per team: a person's role in one team says nothing about another."""

from int_app.teams.models import PCN, Practice, Team
from int_app.teams.roles import Right, Role

from ..conftest import member
from ..factories import MembershipFactory, UserFactory


def test_a_right_held_in_one_team_reaches_only_that_teams_teams_pcns_and_practices(own_team, other_team):
    lead_here_ot_there = member(own_team, Role.PCN_LEAD)
    MembershipFactory(team=other_team, user=lead_here_ot_there, role=Role.OCCUPATIONAL_THERAPIST)

    assert list(Team.objects.with_right(lead_here_ot_there, Right.VIEW_PRESSURE)) == [own_team]
    assert set(Team.objects.with_right(lead_here_ot_there, Right.VIEW_CASES)) == {other_team}
    assert set(Team.objects.visible_to(lead_here_ot_there)) == {own_team, other_team}
    assert set(PCN.objects.visible_to(lead_here_ot_there, Right.VIEW_PRESSURE)) == set(own_team.pcns.all())
    assert set(Practice.objects.visible_to(lead_here_ot_there, Right.VIEW_PRESSURE)) == set(own_team.practices.all())


def test_a_superuser_holds_no_team_right_without_a_role_in_the_team(db, own_team):
    admin = UserFactory(is_staff=True, is_superuser=True)
    assert set(Team.objects.visible_to(admin)) == {own_team}
    assert not Team.objects.with_right(admin, Right.VIEW_PRESSURE).exists()
