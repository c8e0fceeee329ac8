"""Rights are held per team: a person's role in one team says nothing about another."""

import io

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.http import Http404
from django.urls import reverse

from caseload.models import ImportJob, Resident
from caseload.services import import_job_create
from int_app.teams.models import PCN, Practice, Team, User
from int_app.teams.roles import Right, Role, has_right, role_has_right
from int_app.teams.scoping import team_for

from ..caseload.factories import active, days_ago, referred
from ..conftest import member
from ..factories import MembershipFactory, UserFactory
from ..meetings.factories import make_meeting


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


# --- importing service use and allocating key workers ------------------------------------------


def test_only_the_coordinator_imports_service_use_and_allocates_key_workers():
    for right in (Right.IMPORT_SERVICE_USE, Right.ALLOCATE_KEY_WORKER):
        assert {role for role in Role.values if role_has_right(role, right)} == {Role.COORDINATOR}, right


@pytest.fixture
def ours(own_team) -> Resident:
    return active(own_team)


@pytest.fixture
def theirs(other_team) -> Resident:
    """The other team's resident (made before the other team has a second OT)."""
    return active(other_team)


@pytest.fixture
def coordinator_here_ot_there(own_team, other_team, ours, theirs) -> User:
    """The own team's coordinator, who is also an occupational therapist in the other team."""
    person = member(own_team, Role.COORDINATOR)
    MembershipFactory(team=other_team, user=person, role=Role.OCCUPATIONAL_THERAPIST)
    return person


def test_a_coordinator_here_and_ot_there_imports_and_allocates_only_here(own_team, other_team, coordinator_here_ot_there):
    for right in (Right.IMPORT_SERVICE_USE, Right.ALLOCATE_KEY_WORKER):
        assert list(Team.objects.with_right(coordinator_here_ot_there, right)) == [own_team], right
        assert has_right(coordinator_here_ot_there, own_team, right)
        assert not has_right(coordinator_here_ot_there, other_team, right)


def test_they_share_out_new_residents_in_their_own_team_and_are_forbidden_to_in_the_other(
    client, own_team, other_team, coordinator_here_ot_there
):
    ours, theirs = referred(own_team), referred(other_team)
    client.force_login(coordinator_here_ot_there)

    assert client.get(reverse("caseload:key_workers", args=[own_team.slug])).status_code == 200
    assert client.get(reverse("caseload:triage", args=[own_team.slug, ours.pk])).status_code == 200
    # The address names the other team, where they are an OT: they are in it, so "forbidden".
    assert client.get(reverse("caseload:key_workers", args=[other_team.slug])).status_code == 403
    assert client.get(reverse("caseload:triage", args=[other_team.slug, theirs.pk])).status_code == 403
    key_worker = member(other_team, Role.SOCIAL_WORKER)
    refused = client.post(
        reverse("caseload:triage", args=[other_team.slug, theirs.pk]),
        {"version": theirs.version, "decision": "accept", "key_worker": key_worker.pk, "on": days_ago(1)},
    )
    assert refused.status_code == 403
    theirs.refresh_from_db()
    assert (theirs.status, theirs.key_worker) == (Resident.Status.REFERRED, None)
    # As the OT they see the other team's resident, without the triage button.
    page = client.get(reverse("caseload:resident", args=[other_team.slug, theirs.pk])).text
    assert "Triage the referral" not in page
    assert "Triage the referral" in client.get(reverse("caseload:resident", args=[own_team.slug, ours.pk])).text


def test_their_import_loads_into_their_own_team_only_and_the_other_teams_imports_are_not_found(
    client, own_team, other_team, coordinator_here_ot_there, ours, theirs
):
    client.force_login(coordinator_here_ot_there)

    job = upload(client, extract(ours))
    assert list(job.teams.all()) == [own_team]
    assert (job.status, ours.service_use.count()) == (ImportJob.Status.DONE, 1)
    # The other team's residents are not theirs to match, although they see them there as its OT.
    refused = upload(client, extract(theirs))
    assert refused.status == ImportJob.Status.REFUSED
    assert "no resident with this number in your teams" in refused.errors[0]["message"]
    assert theirs.service_use.count() == 0
    # An import names no team in its address: one of the other team's is not found, as if it did not exist.
    elsewhere = import_job_create(
        content=extract(theirs), file_name="y.csv", teams=[other_team], by=member(other_team, Role.COORDINATOR), background=False
    )
    assert client.get(reverse("caseload:import_job", args=[job.pk])).status_code == 200
    assert client.get(reverse("caseload:import_job", args=[elsewhere.pk])).status_code == 404
    assert client.get(reverse("caseload:import_job", args=[elsewhere.pk + 1000])).status_code == 404


def extract(resident: Resident) -> bytes:
    return f"nhs_number,date,kind,source,source_id\n{resident.nhs_number},{days_ago(40)},ae_attendance,BHAM-ED,ED-{resident.pk}\n".encode()


def upload(client, content: bytes) -> ImportJob:
    response = client.post(reverse("caseload:import_service_use"), {"file": SimpleUploadedFile("x.csv", content, "text/csv")})
    return ImportJob.objects.get(pk=response["Location"].rstrip("/").rsplit("/", 1)[1])


def test_the_import_command_loads_for_a_person_into_the_teams_where_they_may_import(
    tmp_path, own_team, coordinator_here_ot_there, ours, theirs
):
    file = tmp_path / "extract.csv"
    file.write_bytes(extract(ours))

    call_command("import_service_use", str(file), "--as", coordinator_here_ot_there.email, stdout=io.StringIO())

    assert list(ImportJob.objects.get().teams.all()) == [own_team]
    assert (ours.service_use.count(), theirs.service_use.count()) == (1, 0)


# --- what a person without the right is told: 403 where the address names the team, else 404 ----


def test_a_team_in_the_address_is_not_found_for_an_outsider_and_forbidden_to_a_member_without_the_right(own_team, other_team):
    lead = member(own_team, Role.PCN_LEAD)
    coordinator = member(own_team, Role.COORDINATOR)

    assert team_for(coordinator, own_team.slug, Right.ALLOCATE_KEY_WORKER) == own_team
    with pytest.raises(PermissionDenied):
        team_for(lead, own_team.slug, Right.ALLOCATE_KEY_WORKER)
    for slug in (other_team.slug, "no-such-team"):
        with pytest.raises(Http404):
            team_for(coordinator, slug, Right.ALLOCATE_KEY_WORKER)


def test_an_object_under_another_teams_address_is_not_found_even_to_someone_in_both(client, own_team, other_team):
    """A coordinator of both teams: each meeting is found at its own team's address only."""
    both = member(own_team, Role.COORDINATOR)
    MembershipFactory(team=other_team, user=both, role=Role.COORDINATOR)
    ours = make_meeting(own_team, days_ahead=3)
    client.force_login(both)

    assert client.get(reverse("meetings:agenda", args=[own_team.slug, ours.pk])).status_code == 200
    assert client.get(reverse("meetings:agenda", args=[other_team.slug, ours.pk])).status_code == 404
    assert client.post(reverse("meetings:meeting_end", args=[other_team.slug, ours.pk])).status_code == 404
    assert client.get(reverse("meetings:agenda", args=[own_team.slug, ours.pk + 1000])).status_code == 404


def test_a_member_without_the_right_is_forbidden_whether_or_not_the_object_exists(client, own_team):
    """Their answer says nothing about which meetings there are."""
    ours = make_meeting(own_team, days_ahead=3)
    client.force_login(member(own_team, Role.GP))

    assert client.get(reverse("meetings:agenda", args=[own_team.slug, ours.pk])).status_code == 403
    assert client.get(reverse("meetings:agenda", args=[own_team.slug, ours.pk + 1000])).status_code == 403
