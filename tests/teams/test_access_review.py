"""The access review, as the team's information governance lead runs it each quarter."""

import csv
import datetime as dt
import io

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.urls import reverse
from django.utils import timezone

from int_app.teams.invitations import Invitee, invitation_create, invitation_revoke
from int_app.teams.models import Organisation, User
from int_app.teams.roles import Role

from ..conftest import member
from ..factories import MembershipFactory, UserFactory


@pytest.fixture
def ig_lead(own_team) -> User:
    return member(own_team, Role.INFORMATION_GOVERNANCE_LEAD)


@pytest.fixture
def invited(own_team) -> User:
    admin = UserFactory(full_name="Sam Staff", is_staff=True, is_superuser=True)
    invitation = invitation_create(
        invitee=Invitee(
            email="jo.bloggs@nhs.net", given_name="Jo", family_name="Bloggs", team=own_team,
            role=Role.OCCUPATIONAL_THERAPIST, organisation=Organisation.objects.first(),
        ),
        by=admin,
    )
    return invitation.user


def test_the_ig_lead_sees_every_member_with_login_mfa_and_who_invited_them(client, own_team, ig_lead, invited):
    gp = member(own_team, Role.GP)
    TOTP.activate(gp, generate_totp_secret())
    User.objects.filter(pk=gp.pk).update(last_login=dt.datetime(2027, 1, 5, 10, 30, tzinfo=dt.UTC))
    client.force_login(ig_lead)
    response = client.get(reverse("access_review", args=[own_team.slug]))
    assert response.status_code == 200
    page = response.text
    for membership in own_team.memberships.select_related("user", "organisation"):
        assert membership.user.email in page and membership.organisation.name in page
    gp_row = page.split(gp.email)[1].split("</tr>")[0]
    assert "5 Jan 2027 10:30" in gp_row and ">On<" in gp_row
    jo_row = page.split("jo.bloggs@nhs.net")[1].split("</tr>")[0]
    assert "Never" in jo_row and "Off" in jo_row and "by Sam Staff" in jo_row and "Waiting" in jo_row
    assert "Not invited: set up by an admin" in page.split(ig_lead.email)[1].split("</tr>")[0]


def test_the_csv_holds_the_same_and_says_when_an_invitation_was_revoked(client, own_team, ig_lead, invited):
    invitation_revoke(invitation=invited.invitations.get(), by=ig_lead)
    client.force_login(ig_lead)
    response = client.get(reverse("access_review_csv", args=[own_team.slug]))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert f"access-review-{own_team.slug}-{timezone.localdate():%Y-%m-%d}.csv" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == own_team.memberships.count()
    jo = next(row for row in rows if row["email"] == "jo.bloggs@nhs.net")
    assert jo == jo | {"name": "Jo Bloggs", "role": "Occupational therapist", "account": "switched off", "last_login": "never",
                       "mfa": "off", "invited_by": "Sam Staff", "invitation": "Revoked"}


def test_a_name_that_looks_like_a_formula_is_written_as_text_in_the_csv(client, own_team, ig_lead):
    User.objects.filter(pk=member(own_team, Role.GP).pk).update(full_name="=HYPERLINK(1)")
    client.force_login(ig_lead)
    rows = list(csv.DictReader(io.StringIO(client.get(reverse("access_review_csv", args=[own_team.slug])).content.decode())))
    assert "'=HYPERLINK(1)" in [row["name"] for row in rows]


@pytest.mark.parametrize("role", [Role.PCN_LEAD, Role.GP, Role.PRACTICE_MANAGER, Role.SOCIAL_WORKER])
def test_members_without_the_right_are_forbidden_and_other_teams_do_not_find_it(client, own_team, other_team, role):
    client.force_login(member(own_team, role))
    assert client.get(reverse("access_review", args=[own_team.slug])).status_code == 403
    client.force_login(member(other_team, Role.INFORMATION_GOVERNANCE_LEAD))
    assert client.get(reverse("access_review", args=[own_team.slug])).status_code == 404
    assert client.get(reverse("access_review_csv", args=[own_team.slug])).status_code == 404


def test_the_coordinator_reviews_access_too_and_the_team_page_links_to_it(client, own_team):
    client.force_login(member(own_team, Role.COORDINATOR))
    assert reverse("access_review", args=[own_team.slug]) in client.get(reverse("team_detail", args=[own_team.slug])).text
    assert client.get(reverse("access_review", args=[own_team.slug])).status_code == 200
    client.force_login(member(own_team, Role.GP))
    assert reverse("access_review", args=[own_team.slug]) not in client.get(reverse("team_detail", args=[own_team.slug])).text


def test_the_ig_lead_sees_no_case(client, own_team, ig_lead):
    client.force_login(ig_lead)
    assert client.get(reverse("caseload:list", args=[own_team.slug])).status_code == 403
    home = client.get("/")
    assert home.status_code == 200 and reverse("access_review", args=[own_team.slug]) in home.text


def test_the_review_reads_in_a_fixed_number_of_queries_however_many_members(
    client, own_team, ig_lead, django_assert_max_num_queries
):
    client.force_login(ig_lead)
    client.get(reverse("access_review", args=[own_team.slug]))
    with django_assert_max_num_queries(12) as few:
        client.get(reverse("access_review", args=[own_team.slug]))
    queries = len(few.captured_queries)  # read now: the next request empties the log
    for _ in range(15):
        person = MembershipFactory(team=own_team, role=Role.GP).user
        TOTP.activate(person, generate_totp_secret())
    client.get(reverse("access_review", args=[own_team.slug]))  # after the writes the person is read again once (keyed on the data version)
    with django_assert_max_num_queries(queries):
        response = client.get(reverse("access_review", args=[own_team.slug]))
    assert response.text.count(">On<") == 15
