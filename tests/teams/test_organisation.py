import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from int_app.teams.models import PCN, Membership
from int_app.teams.roles import KEY_WORKER_ROLES, Right, Role, has_right

from ..conftest import member
from ..factories import MembershipFactory, PCNFactory, PracticeFactory, UserFactory


@pytest.mark.parametrize("code", ["U12345", "U00001"])
def test_a_pcn_ods_code_is_U_and_five_digits(db, code):
    PCNFactory.build(ods_code=code, neighbourhood=PCNFactory().neighbourhood).full_clean()


@pytest.mark.parametrize("code", ["12345", "u12345", "U1234", "U123456", "M85001", "U1234X"])
def test_a_malformed_pcn_ods_code_is_refused_by_the_form_and_the_database(db, code):
    pcn = PCNFactory.build(ods_code=code, neighbourhood=PCNFactory().neighbourhood)
    with pytest.raises(ValidationError):
        pcn.full_clean()
    with pytest.raises(IntegrityError):
        PCN.objects.bulk_create([pcn])


@pytest.mark.parametrize("code", ["M85001", "m85001", "M8500", "885001"])
def test_a_practice_ods_code_is_a_capital_letter_and_five_digits(db, code):
    practice = PracticeFactory.build(ods_code=code, pcn=PCNFactory())
    if code == "M85001":
        practice.full_clean()
    else:
        with pytest.raises(ValidationError):
            practice.full_clean()


def test_a_team_covers_the_pcns_and_practices_of_its_neighbourhood(own_team, other_team):
    assert [p.name for p in own_team.pcns] == ["Own PCN"]
    assert own_team.practices.count() == 2
    assert not own_team.practices.filter(pcn__neighbourhood=other_team.neighbourhood).exists()


def test_a_user_may_belong_to_two_teams_but_holds_one_role_in_each(own_team, other_team):
    gp = member(own_team, Role.GP)
    MembershipFactory(user=gp, team=other_team, role=Role.GP)
    assert set(gp.memberships.values_list("team__name", flat=True)) == {"Own INT", "Other INT"}
    with pytest.raises(IntegrityError):
        MembershipFactory(user=gp, team=own_team, role=Role.COORDINATOR)


def test_rights_follow_the_role_in_that_team_only(own_team, other_team):
    gp = member(own_team, Role.GP)
    assert has_right(gp, own_team, Right.SIGN_CLINICAL_DECISIONS)
    assert not has_right(gp, other_team, Right.SIGN_CLINICAL_DECISIONS)
    lead = member(own_team, Role.PCN_LEAD)
    assert has_right(lead, own_team, Right.VIEW_KPIS)
    assert not has_right(lead, own_team, Right.VIEW_CASES), "PCN leads see aggregates, not case notes"


def test_the_team_lists_its_four_key_workers(own_team):
    assert {m.role for m in own_team.key_workers()} == KEY_WORKER_ROLES
    assert len(KEY_WORKER_ROLES) == 4


def test_email_login_is_case_insensitive_on_creation(db):
    user = UserFactory._meta.model.objects.create_user("Someone@Example.NHS.uk", "pw-long-enough-1", full_name="S")
    assert user.email == "someone@example.nhs.uk"


def test_a_membership_with_an_unknown_role_is_refused_by_the_database(own_team):
    membership = own_team.memberships.first()
    with pytest.raises(IntegrityError):
        Membership.objects.filter(pk=membership.pk).update(role="receptionist")
