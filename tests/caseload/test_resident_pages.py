"""A resident's pages: the summary, the history, the service-use chart and table, and the forms
that move them along their journey."""

import datetime
import json
import re

import pytest
from django.urls import reverse

from caseload.models import Resident
from int_app.teams.roles import CASE_ROLES, Role

from ..conftest import member
from .factories import InterventionFactory, ServiceUseFactory, accepted, active, days_ago, referred, stepped_down


def url(name: str, resident: Resident, *extra) -> str:
    return reverse(f"caseload:{name}", args=[resident.team.slug, resident.pk, *extra])


def test_the_coordinator_triages_a_referral_and_allocates_a_key_worker(client, own_team, coordinator):
    resident = referred(own_team)
    key_worker = member(own_team, Role.MENTAL_HEALTH_TRUST)
    client.force_login(coordinator)

    form = client.get(url("triage", resident))
    assert key_worker.full_name in form.text and "(0 active)" in form.text
    response = client.post(
        url("triage", resident),
        {"version": resident.version, "decision": "accept", "key_worker": key_worker.pk, "on": days_ago(0).isoformat()},
    )

    assert response.status_code == 302
    resident.refresh_from_db()
    assert (resident.status, resident.key_worker) == (Resident.Status.ACCEPTED, key_worker)
    page = client.get(response["Location"])
    assert f"{key_worker.full_name} is their key worker" in page.text
    assert "Accepted at triage" in page.text


def test_a_triage_without_a_key_worker_or_reason_is_refused_with_messages(client, own_team, coordinator):
    resident = referred(own_team)
    client.force_login(coordinator)
    accept = client.post(url("triage", resident), {"version": resident.version, "decision": "accept", "on": days_ago(0).isoformat()})
    assert "Choose the key worker" in accept.text
    decline = client.post(url("triage", resident), {"version": resident.version, "decision": "not_accept", "on": days_ago(0).isoformat()})
    assert "Choose why the referral is not accepted" in decline.text
    resident.refresh_from_db()
    assert resident.status == Resident.Status.REFERRED


def test_a_stale_triage_form_is_refused_and_changes_nothing(client, own_team, coordinator):
    resident = referred(own_team)
    seen_version = resident.version
    Resident.objects.get(pk=resident.pk).not_accept(reason="declined", by=member(own_team, Role.GP))
    client.force_login(coordinator)
    response = client.post(
        url("triage", resident),
        {"version": seen_version, "decision": "accept", "key_worker": member(own_team, Role.SOCIAL_WORKER).pk, "on": days_ago(0).isoformat()},
    )
    # The resident is no longer awaiting triage, so the page sends the coordinator back with why.
    assert response.status_code == 302
    assert "not accepted" in client.get(response["Location"]).text.lower()
    resident.refresh_from_db()
    assert resident.key_worker is None


def test_a_form_opened_before_someone_else_saved_is_refused(client, own_team):
    resident = active(own_team, consent=False)
    key_worker = resident.key_worker
    client.force_login(key_worker)
    seen_version = resident.version
    resident.add_goal(text="not a version bump", by=key_worker)
    Resident.objects.get(pk=resident.pk).record_consent(on=days_ago(0), method="telephone", by=key_worker)
    # Consent is now recorded, so this page is no longer offered; the step-down form is.
    response = client.post(url("step_down", resident), {"version": seen_version, "on": days_ago(0).isoformat(), "outcome": "goals_met"})
    assert response.status_code == 200
    assert "Someone else changed" in response.text
    resident.refresh_from_db()
    assert resident.status == Resident.Status.ACTIVE


def test_the_key_worker_moves_their_resident_from_start_to_close(client, own_team, coordinator):
    resident = accepted(own_team)
    key_worker = resident.key_worker
    client.force_login(key_worker)

    def post(name: str, **form) -> None:
        resident.refresh_from_db()
        response = client.post(url(name, resident), {"version": resident.version, **form})
        assert response.status_code == 302, response.text

    post("start_intervention", on=days_ago(0).isoformat())
    post("record_consent", on=days_ago(0).isoformat(), method="in_person")
    post("step_down", on=days_ago(0).isoformat(), outcome="partly_met", feedback_score="4", feedback_comment="Kind people")
    post("close", on=days_ago(0).isoformat())

    resident.refresh_from_db()
    assert resident.status == Resident.Status.CLOSED
    assert (resident.feedback_score, resident.feedback_comment) == (4, "Kind people")
    page = client.get(url("resident", resident)).text
    for step in ("Intervention started", "Consent to share recorded", "Stepped down", "Closed"):
        assert step in page


def test_a_page_for_a_move_the_journey_does_not_allow_sends_you_back_with_why(client, own_team, coordinator):
    resident = referred(own_team)
    client.force_login(coordinator)
    response = client.get(url("close", resident))
    assert response.status_code == 302
    assert "is not possible now" in client.get(response["Location"]).text


def test_case_pages_warn_while_consent_is_not_recorded(client, own_team):
    without = active(own_team, consent=False)
    with_consent = active(own_team)
    client.force_login(without.key_worker)
    for page in ("resident", "support_plan", "step_down"):
        assert "Consent not recorded" in client.get(url(page, without)).text
    assert "nhsuk-warning-callout" in client.get(url("resident", without)).text
    assert "Consent not recorded" not in client.get(url("resident", with_consent)).text


def test_resident_pages_are_never_stored_by_browsers_or_proxies(client, own_team, coordinator):
    resident = active(own_team)
    client.force_login(coordinator)
    for name in ("resident", "support_plan", "step_down"):
        assert "no-store" in client.get(url(name, resident))["Cache-Control"]
    assert "no-store" in client.get(reverse("caseload:list", args=[own_team.slug]))["Cache-Control"]


def test_the_service_use_chart_and_its_table_show_the_same_numbers(client, own_team, coordinator):
    resident = active(own_team)
    start = resident.intervention_start
    month_before = start.replace(day=1) - datetime.timedelta(days=1)
    for _n in range(3):
        ServiceUseFactory(resident=resident, date=month_before, kind="ae_attendance")
    ServiceUseFactory(resident=resident, date=start, kind="primary_care_appointment")
    client.force_login(coordinator)

    page = client.get(url("resident", resident)).text

    data = json.loads(re.search(r'<script id="service-use-data" type="application/json">(.*?)</script>', page, re.S).group(1))
    ae = next(series for series in data["series"] if series["kind"] == "ae_attendance")
    gp = next(series for series in data["series"] if series["kind"] == "primary_care_appointment")
    assert ae["counts"][11] == 3 and sum(ae["counts"]) == 3
    assert gp["counts"][12] == 1 and data["anchor_index"] == 12
    assert "12 months before" in page and "Per month" in page
    assert 'src="/static/js/caseload_chart.mjs"' in page
    assert "<script>" not in page and " style=" not in page, "no inline script or style under our CSP"


def test_the_history_lists_the_journey_and_service_use_newest_first(client, own_team, coordinator):
    resident = active(own_team)
    ServiceUseFactory(resident=resident, date=days_ago(1), kind="nhs_111_call")
    client.force_login(coordinator)
    page = client.get(url("resident", resident)).text
    history = page[page.index('id="history"'):]
    assert history.index("NHS 111 call") < history.index("Intervention started") < history.index("Accepted at triage")


def test_the_support_plan_is_built_with_htmx_and_without_it(client, own_team):
    resident = active(own_team)
    lunch = InterventionFactory(team=own_team, name="Thursday lunch club")
    client.force_login(resident.key_worker)

    partial = client.post(url("goal_add", resident), {"text": "Cook a meal for the family"}, headers={"HX-Request": "true"})
    assert partial.status_code == 200 and "Cook a meal for the family" in partial.text and "<html" not in partial.text
    goal = resident.goals.get()
    updated = client.post(url("goal_status", resident, goal.pk), {f"goal-{goal.pk}-status": "achieved"})
    assert updated.status_code == 302
    goal.refresh_from_db()
    assert goal.status == "achieved"

    chosen = client.post(url("plan_interventions", resident), {"interventions": [lunch.pk]}, headers={"HX-Request": "true"})
    assert chosen.status_code == 200 and "<html" not in chosen.text
    assert [p.intervention for p in resident.planned_interventions.all()] == [lunch]
    plan = client.get(url("resident", resident)).text
    assert "Cook a meal for the family" in plan and "Thursday lunch club" in plan


def test_an_empty_goal_is_refused(client, own_team):
    resident = active(own_team)
    client.force_login(resident.key_worker)
    response = client.post(url("goal_add", resident), {"text": ""})
    assert response.status_code == 200 and "There is a problem" in response.text
    assert not resident.goals.exists()


def test_the_gp_reads_the_plan_but_cannot_change_it(client, own_team):
    resident = active(own_team)
    client.force_login(member(own_team, Role.GP))
    page = client.get(url("support_plan", resident)).text
    assert "Add the goal" not in page
    assert client.post(url("goal_add", resident), {"text": "x"}).status_code == 403


@pytest.mark.parametrize("role", sorted(set(Role.values) - CASE_ROLES))
def test_team_members_outside_case_discussions_never_see_a_resident(client, own_team, role):
    resident = active(own_team)
    client.force_login(member(own_team, role))
    assert client.get(url("resident", resident)).status_code == 403


def test_another_teams_resident_does_not_exist_for_you(client, own_team, outsider):
    resident = stepped_down(own_team)
    client.force_login(outsider)
    assert client.get(url("resident", resident)).status_code == 404
    assert client.get(reverse("caseload:resident", args=["other", resident.pk])).status_code == 404


def test_the_timeline_shows_the_residents_discussions_decisions_and_actions(client, own_team, coordinator):
    from int_app.teams.roles import Role
    from tests.conftest import member
    from tests.meetings.factories import active_resident, discussed, make_action, record_decision

    resident = active_resident(own_team)
    item = discussed(resident, days_ago=3)
    record_decision(item, "Refer to the falls service", clinical=True)
    make_action(resident, item=item, owner=member(own_team, Role.SOCIAL_WORKER), description="Book a home visit")
    client.force_login(coordinator)
    page = client.get(resident.get_absolute_url()).text
    assert "Discussed at" in page
    assert "Refer to the falls service" in page and "awaiting GP sign-off" in page
    assert "Book a home visit" in page



def test_the_resident_page_reads_in_the_same_number_of_queries_however_long_the_journey(client, own_team, coordinator, django_assert_num_queries):
    """The meetings' part of the journey (discussions, decisions, actions) is read in a fixed
    number of queries, as the caseload's own part is."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.meetings.factories import active_resident, discussed, make_action, record_decision

    resident = active_resident(own_team)
    client.force_login(coordinator)

    def a_meeting(ago: int) -> None:
        item = discussed(resident, days_ago=ago)
        record_decision(item, f"Decision {ago}", clinical=True)
        make_action(resident, item=item, owner=member(own_team, Role.SOCIAL_WORKER), description=f"Action {ago}")
        ServiceUseFactory(resident=resident, date=days_ago(ago))

    a_meeting(3)
    client.get(url("resident", resident))  # the first request also fills per-process caches
    # Each measured request at an address of its own, so the page is built rather than taken from
    # the cache (tests/teams/test_page_cache.py).
    with CaptureQueriesContext(connection) as one_meeting:
        assert client.get(url("resident", resident), {"request": 1}).status_code == 200
    with_one_meeting = len(one_meeting.captured_queries)  # now: the next request clears the connection's query log
    for ago in (10, 17, 24):
        a_meeting(ago)
    # After those writes the person is read again once (the cache is keyed on the data version), as before the first count.
    client.get(url("resident", resident))
    with django_assert_num_queries(with_one_meeting):
        page = client.get(url("resident", resident), {"request": 2}).text
    assert all(f"Decision {ago}" in page and f"Action {ago}" in page for ago in (3, 10, 17, 24))
