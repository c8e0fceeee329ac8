"""Case finding: the coordinator and the GP see people of the team's population extract whom nobody
has referred, most recent and rising emergency use first, each with the reason in words, and can
refer one with the form filled in. Every page writes who was shown to the access log."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from caseload.models import PopulationPerson, Resident, ResidentAccess
from caseload.population import population_load_unchecked
from caseload.records import resident_restrict
from int_app.teams.roles import Right, Role
from tests.factories import valid_nhs_number

from ..conftest import member
from .factories import active, referred
from .population_builders import extract_rows

# Frozen in mid-December 2026: the extract runs to November, so "recent" is June to November.
NOW = dt.datetime(2026, 12, 15, 10, 0, tzinfo=ZoneInfo("Europe/London"))
RISING, STEADY, GP_ONLY, QUIET, SUPPORTED, CLOSED_CASE = (valid_nhs_number(100 * n) for n in range(1, 7))


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def extract(own_team):
    first, second = own_team.practices.order_by("pk")
    people = {
        # 4 A&E attendances and 2 emergency admissions in the last six months, 1 A&E before.
        RISING: (first, 1946, "F", {0: {"ae_attendance": 3, "emergency_admission": 1}, 3: {"ae_attendance": 1, "emergency_admission": 1}, 8: {"ae_attendance": 1}}),
        STEADY: (second, 1990, "M", {1: {"ambulance_callout": 2}, 7: {"ambulance_callout": 2}}),
        GP_ONLY: (first, 2015, "F", {2: {"primary_care_appointment": 9}, 9: {"primary_care_appointment": 2}}),
        QUIET: (first, 1950, "M", {12: {"ae_attendance": 5}}),
        SUPPORTED: (first, 1940, "F", {0: {"ae_attendance": 9}}),
        CLOSED_CASE: (first, 1941, "M", {0: {"nhs_111_call": 1}}),
    }
    loaded = population_load_unchecked(team=own_team, rows=extract_rows(own_team, people), file_name="population.csv")
    active(own_team, nhs_number=SUPPORTED)
    referred(own_team, nhs_number=CLOSED_CASE, status=Resident.Status.CLOSED, closed_on=dt.date(2026, 5, 1))
    return loaded


def listed(response) -> list[str]:
    return [candidate.person.nhs_number for candidate, _practice in response.context["candidates"]]


def test_people_not_on_a_caseload_are_ranked_by_recent_emergency_use_with_the_reason_in_words(client, coordinator, own_team, extract):
    client.force_login(coordinator)

    response = client.get(reverse("caseload:case_finding", args=[own_team.slug]))

    assert response.status_code == 200
    # The open case is not listed; someone whose case closed is, and so is the filler (one 111 call).
    assert listed(response) == [RISING, STEADY, GP_ONLY, CLOSED_CASE, valid_nhs_number(900_777)]
    assert "4 A&amp;E attendances and 2 emergency admissions since June, up from 1 in the six months before" in response.text
    assert "2 ambulance call-outs since June, as many as in the six months before" in response.text
    assert "9 contacts since June, up from 2 in the six months before" in response.text
    assert QUIET not in listed(response), "no contact in the last six months"


def test_someone_whose_closed_record_is_restricted_is_not_found_again(client, coordinator, own_team, extract):
    closed = Resident.objects.get(nhs_number=CLOSED_CASE)
    resident_restrict(resident=closed, reason="Objected to the team using their information.", by=coordinator)
    client.force_login(coordinator)

    response = client.get(reverse("caseload:case_finding", args=[own_team.slug]))

    assert CLOSED_CASE not in listed(response)
    assert listed(response) == [RISING, STEADY, GP_ONLY, valid_nhs_number(900_777)]


def test_the_filters_keep_a_practice_an_age_band_or_a_kind(client, coordinator, own_team, extract):
    client.force_login(coordinator)
    url = reverse("caseload:case_finding", args=[own_team.slug])
    second = own_team.practices.order_by("pk")[1]

    assert listed(client.get(url, {"practice": second.pk})) == [STEADY]
    assert listed(client.get(url, {"age_band": "75-84"})) == [RISING]
    assert listed(client.get(url, {"age_band": "0-17"})) == [GP_ONLY]
    assert listed(client.get(url, {"kind": "emergency_admission"})) == [RISING]
    assert listed(client.get(url, {"kind": "no_such_kind"}))[:1] == [RISING], "a filter not understood filters nothing"


def test_each_page_writes_an_access_row_for_each_person_it_lists(client, coordinator, own_team, extract):
    client.force_login(member(own_team, Role.GP))

    response = client.get(reverse("caseload:case_finding", args=[own_team.slug]), {"practice": own_team.practices.order_by("pk")[1].pk})

    rows = list(ResidentAccess.objects.filter(page=ResidentAccess.Page.CASE_FINDING).values_list("nhs_number", "extract_id", "resident_id", "user__email"))
    assert rows == [(STEADY, extract.pk, None, member(own_team, Role.GP).email)]
    assert listed(response) == [STEADY]
    # The team's coordinator can find these rows among the team's access log.
    assert ResidentAccess.objects.visible_to(coordinator, Right.VIEW_ACCESS_LOG).filter(nhs_number=STEADY).exists()


def test_refer_opens_the_referral_form_filled_in_from_the_extract(client, coordinator, own_team, extract):
    client.force_login(coordinator)
    response = client.get(reverse("caseload:case_finding", args=[own_team.slug]))
    rising = next(candidate for candidate, _practice in response.context["candidates"] if candidate.person.nhs_number == RISING)

    form = client.get(rising.refer_url).context["form"]

    assert form["nhs_number"].value() == RISING
    assert form["practice"].value() == own_team.practices.order_by("pk")[0].pk
    assert form["referral_source"].value() == Resident.ReferralSource.CASE_FINDING
    assert form["referrer"].value() == "Case finding, population extract"
    assert "year of birth as 1946" in form.fields["date_of_birth"].help_text
    response = client.post(
        reverse("caseload:refer"),
        {
            "nhs_number": RISING, "given_name": "Edna", "family_name": "Wright", "date_of_birth": "1946-04-02",
            "practice": form["practice"].value(), "referral_date": "2026-12-15", "referral_source": "case_finding",
            "referrer": "Case finding, population extract", "referral_reason": rising.reason,
        },
    )
    assert response.status_code == 302
    assert Resident.objects.get(nhs_number=RISING).referral_source == Resident.ReferralSource.CASE_FINDING
    assert RISING not in listed(client.get(reverse("caseload:case_finding", args=[own_team.slug]))), "now on the caseload"


def test_only_the_coordinator_and_the_gp_see_case_finding(client, own_team, other_team, extract):
    url = reverse("caseload:case_finding", args=[own_team.slug])
    for role, status in ((Role.COORDINATOR, 200), (Role.GP, 200), (Role.SOCIAL_WORKER, 403), (Role.PCN_LEAD, 403)):
        client.force_login(member(own_team, role))
        assert client.get(url).status_code == status, role
    client.force_login(member(other_team, Role.COORDINATOR))
    assert client.get(url).status_code == 404
    assert not ResidentAccess.objects.filter(user=member(other_team, Role.COORDINATOR)).exists()


def test_without_an_extract_the_page_says_so(client, coordinator, own_team):
    client.force_login(coordinator)

    response = client.get(reverse("caseload:case_finding", args=[own_team.slug]))

    assert "has no population extract yet" in response.text


def test_the_page_costs_the_same_queries_for_a_few_people_or_a_full_page(client, coordinator, own_team):
    practice = own_team.practices.first()
    client.force_login(coordinator)
    url = reverse("caseload:case_finding", args=[own_team.slug])
    counts = []
    for people in (2, 60):
        population_load_unchecked(
            team=own_team,
            rows=extract_rows(own_team, {valid_nhs_number(20_000 + 5 * n): (practice, 1950, "F", {n % 6: {"ae_attendance": 1 + n % 3}}) for n in range(people)}),
            file_name=f"{people}.csv",
        )
        client.get(url)  # the session's own first-request work is not the page's
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1] == 6, [query["sql"][:80] for query in queries.captured_queries]
    assert PopulationPerson.objects.filter(extract__is_current=True).count() == 61
