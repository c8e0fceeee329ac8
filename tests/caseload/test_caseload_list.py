"""The caseload list: find a resident by a misspelled name or their NHS number, filter, sort and
page through, as you type with htmx or with plain GET forms without JavaScript."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from caseload.models import Resident, ResidentEvent
from int_app.teams.roles import Role

from ..conftest import member
from .factories import accepted, active, referred, stepped_down


@pytest.fixture
def caseload_url(own_team) -> str:
    return reverse("caseload:list", args=[own_team.slug])


def names(response) -> list[str]:
    return [r.full_name for r in response.context["page"].object_list]


def test_the_coordinator_finds_margaret_by_typing_margret(client, own_team, coordinator, caseload_url):
    referred(own_team, given_name="Margaret", family_name="Begum")
    referred(own_team, given_name="Martin", family_name="Evans")
    referred(own_team, given_name="Mary", family_name="Clarke")
    client.force_login(coordinator)

    response = client.get(caseload_url, {"q": "Margret"})

    assert names(response) == ["Margaret Begum"]


def test_a_family_name_with_a_typo_and_a_part_of_a_name_both_find_the_resident(client, own_team, coordinator, caseload_url):
    referred(own_team, given_name="Priya", family_name="Patel")
    referred(own_team, given_name="Oluwaseun", family_name="Adeyemi")
    client.force_login(coordinator)
    assert names(client.get(caseload_url, {"q": "Patil"})) == ["Priya Patel"]
    assert names(client.get(caseload_url, {"q": "Olu"})) == ["Oluwaseun Adeyemi"]


def test_the_nhs_number_finds_the_resident_however_it_is_written(client, own_team, coordinator, caseload_url):
    resident = referred(own_team)
    referred(own_team)
    client.force_login(coordinator)
    spaced = resident.formatted_nhs_number
    assert names(client.get(caseload_url, {"q": spaced})) == [resident.full_name]
    assert names(client.get(caseload_url, {"q": resident.nhs_number[:6]}))[0] == resident.full_name


def test_search_never_reaches_another_teams_residents(client, own_team, other_team, coordinator, caseload_url):
    referred(other_team, given_name="Margaret", family_name="Elsewhere")
    client.force_login(coordinator)
    assert names(client.get(caseload_url, {"q": "Margaret"})) == []


def test_filters_for_status_key_worker_practice_and_consent(client, own_team, coordinator, caseload_url):
    social_worker = member(own_team, Role.SOCIAL_WORKER)
    waiting = referred(own_team, family_name="Waiting")
    mine = active(own_team, key_worker=social_worker, family_name="Mine")
    no_consent = active(own_team, consent=False, family_name="Unconsented")
    finished = stepped_down(own_team, family_name="Finished")
    finished.close(on=finished.stepped_down_on, by=coordinator)
    second_practice = own_team.practices.last()
    elsewhere = accepted(own_team, family_name="Elsewhere", practice=second_practice)
    client.force_login(coordinator)

    def family_names(**query) -> set[str]:
        return {r.family_name for r in client.get(caseload_url, query).context["page"].object_list}

    assert family_names() == {"Waiting", "Mine", "Unconsented", "Elsewhere"}, "open cases by default"
    assert family_names(status="all") == {"Waiting", "Mine", "Unconsented", "Elsewhere", "Finished"}
    assert family_names(status="active") == {"Mine", "Unconsented"}
    assert family_names(key_worker=social_worker.pk) == {"Mine"}
    assert family_names(practice=second_practice.pk) == {"Elsewhere"}
    assert family_names(no_consent="on", status="active") == {"Unconsented"}
    assert family_names(status="nonsense") == {"Waiting", "Mine", "Unconsented", "Elsewhere"}, "a value that makes no sense is ignored"
    assert waiting and mine and no_consent and elsewhere


def test_no_contact_in_28_days_finds_the_residents_nobody_has_been_in_touch_with(client, own_team, coordinator, caseload_url):
    forgotten = active(own_team, family_name="Forgotten")
    ResidentEvent.objects.filter(resident=forgotten).update(occurred_at=timezone.now() - datetime.timedelta(days=40))
    recent = active(own_team, family_name="Recent")
    recent.add_goal(text="Join the walking group", by=coordinator)
    client.force_login(coordinator)
    listed = client.get(caseload_url, {"no_contact": "on"}).context["page"].object_list
    assert [r.family_name for r in listed] == ["Forgotten"]


def test_sorting_by_newest_referral(client, own_team, coordinator, caseload_url):
    referred(own_team, family_name="Older", referred_days_ago=50)
    referred(own_team, family_name="Newer", referred_days_ago=5)
    client.force_login(coordinator)
    listed = client.get(caseload_url, {"sort": "referral"}).context["page"].object_list
    assert [r.family_name for r in listed] == ["Newer", "Older"]


def test_the_list_pages_through_25_at_a_time(client, own_team, coordinator, caseload_url):
    for _ in range(30):
        referred(own_team)
    client.force_login(coordinator)
    first = client.get(caseload_url)
    assert len(first.context["page"].object_list) == 25 and "Page 2 of 2" in first.text
    second = client.get(caseload_url, {"page": 2})
    assert len(second.context["page"].object_list) == 5


def test_typing_updates_only_the_results_and_the_page_works_without_javascript(client, own_team, coordinator, caseload_url):
    referred(own_team, given_name="Margaret", family_name="Begum")
    client.force_login(coordinator)
    page = client.get(caseload_url).text
    assert '<form method="get"' in page and 'hx-get="' in page and 'hx-target="#caseload-results"' in page
    assert 'hx-push-url="true"' in page and "input changed delay:300ms" in page

    partial = client.get(caseload_url, {"q": "Margret"}, headers={"HX-Request": "true"})
    assert "Begum, Margaret" in partial.text
    assert "<html" not in partial.text and "<form" not in partial.text, "only the results region is sent"


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_the_number_of_queries_does_not_grow_with_the_caseload(
    client, own_team, coordinator, caseload_url, django_assert_num_queries, htmx
):
    """5 residents or 40, searched, filtered and sorted: the same queries, and residents are read
    twice (the count and the page), last contact included. Each measured request has an address of
    its own, so the page is rendered rather than taken from the cache (tests/teams/test_page_cache.py)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(coordinator)
    headers = {"HX-Request": "true"} if htmx else {}
    query = {"q": "Resident", "no_consent": "", "sort": "contact"}
    requests = iter(range(100))

    def queries() -> list[str]:
        client.get(caseload_url, query, headers=headers)  # the first request after login does extra session work
        with CaptureQueriesContext(connection) as captured:
            response = client.get(caseload_url, {**query, "request": next(requests)}, headers=headers)
        assert response.status_code == 200
        assert len(response.context["page"].object_list) == min(25, Resident.objects.count())
        return [q["sql"] for q in captured.captured_queries]

    for _ in range(5):
        active(own_team)
    with_five = queries()
    for _ in range(35):
        active(own_team)
    with_forty = queries()

    assert len(with_forty) == len(with_five)
    assert len([sql for sql in with_forty if 'FROM "caseload_resident"' in sql]) == 2
    with django_assert_num_queries(len(with_five)):
        client.get(caseload_url, {**query, "request": next(requests)}, headers=headers)


def test_the_coordinator_sees_how_many_residents_each_key_worker_holds(client, own_team, coordinator):
    occupational_therapist = member(own_team, Role.OCCUPATIONAL_THERAPIST)
    active(own_team, key_worker=occupational_therapist)
    active(own_team, key_worker=occupational_therapist)
    accepted(own_team, key_worker=member(own_team, Role.SOCIAL_WORKER))
    client.force_login(coordinator)

    page = client.get(reverse("caseload:key_workers", args=[own_team.slug]))

    caseloads = {person.full_name: (person.active_count, person.accepted_count) for person in page.context["caseloads"]}
    assert caseloads[occupational_therapist.full_name] == (2, 0)
    assert caseloads[member(own_team, Role.SOCIAL_WORKER).full_name] == (0, 1)
    assert len(caseloads) == 4, "the four key workers, and nobody else"
    assert "By organisation" in page.text


def test_only_the_coordinator_sees_the_key_worker_caseloads(client, own_team):
    client.force_login(member(own_team, Role.SOCIAL_WORKER))
    assert client.get(reverse("caseload:key_workers", args=[own_team.slug])).status_code == 403


def test_the_caseload_link_opens_your_teams_caseload(client, own_team, coordinator):
    client.force_login(coordinator)
    response = client.get(reverse("caseload:index"))
    assert response["Location"] == reverse("caseload:list", args=[own_team.slug])
