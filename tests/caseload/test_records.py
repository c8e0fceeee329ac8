"""A resident's record on request, restricted, and retired on time: what the coordinator and the
information governance lead see, on a frozen clock."""

import datetime as dt
import io
import json
import zipfile

import pypdf
import pytest
import time_machine
from django.db import InternalError, transaction
from django.urls import reverse
from django.utils import timezone

from caseload.models import Resident, ResidentAccess, ResidentEvent, SubjectAccessRequest, one_month_after
from caseload.records import next_retirement_run, retire_due_records
from caseload.tasks import produce_subject_access_bundle
from caseload.tasks import retire_due_records as retire_due_records_task
from int_app.teams.roles import Role
from kpis.compute import kpis_recompute
from meetings.models import Action, ActionUpdate, AgendaItem, Decision
from meetings.suggestions import agenda_suggestions, resident_search

from ..conftest import member
from ..kpis.kpi_builders import before_and_after, figure, supported
from ..meetings.factories import make_action, make_meeting, record_decision, service_use
from .factories import InterventionFactory, active, stepped_down

LONDON = timezone.get_default_timezone()


def at(year: int, month: int, day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=LONDON)


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(content)).pages)


def unzip(content: bytes) -> tuple[dict, str]:
    with zipfile.ZipFile(io.BytesIO(content)) as bundle:
        names = bundle.namelist()
        [json_name] = [n for n in names if n.endswith(".json")]
        [pdf_name] = [n for n in names if n.endswith(".pdf")]
        return json.loads(bundle.read(json_name)), pdf_text(bundle.read(pdf_name))


# --- subject access ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "received, deadline",
    [
        (dt.date(2027, 1, 31), dt.date(2027, 2, 28)),
        (dt.date(2028, 1, 31), dt.date(2028, 2, 29)),
        (dt.date(2027, 3, 31), dt.date(2027, 4, 30)),
        (dt.date(2027, 12, 15), dt.date(2028, 1, 15)),
        (dt.date(2027, 2, 28), dt.date(2027, 3, 28)),
    ],
)
def test_a_request_is_due_one_calendar_month_after_it_was_received(received, deadline):
    assert one_month_after(received) == deadline


@pytest.fixture
def everything_held(own_team, coordinator) -> Resident:
    """A resident with every kind of data: record and history, plan, a discussion with a decision,
    an action with its history, service use, and an earlier opening of their page."""
    resident = active(own_team, given_name="Olive", family_name="Quennell", referral_reason="Falls at home, lives alone")
    resident.add_goal(text="Walk to the corner shop by spring", by=coordinator)
    resident.choose_interventions([InterventionFactory(team=own_team, name="Tea and Talk")], by=coordinator)
    meeting = make_meeting(own_team, days_ahead=-3, published=True)
    item = AgendaItem.objects.create(meeting=meeting, resident=resident, position=1, notes="Daughter worried about stairs")
    record_decision(item, "Refer to the falls prevention service", clinical=True)
    make_action(resident, item=item, description="Book a home safety visit")
    service_use(resident, "ae_attendance", days_ago=40)
    ResidentAccess.objects.create(user=member(own_team, Role.GP), resident=resident, page=ResidentAccess.Page.RESIDENT, path="/x")
    return resident


def test_the_coordinator_logs_a_request_and_it_shows_with_its_deadline_until_answered(client, own_team, coordinator, everything_held):
    with time_machine.travel(at(2027, 1, 31), tick=False):
        client.force_login(coordinator)  # sessions end 12 hours after login: log in on the day
        response = client.post(
            reverse("caseload:subject_access_new", args=[own_team.slug, everything_held.pk]),
            {"version": everything_held.version, "received_on": "2027-01-31"},
        )
        assert response.status_code == 302
        sar = SubjectAccessRequest.objects.get(resident=everything_held)
        assert (sar.received_on, sar.deadline, sar.received_by) == (dt.date(2027, 1, 31), dt.date(2027, 2, 28), coordinator)

        caseload = client.get(reverse("caseload:list", args=[own_team.slug])).content.decode()
        assert "Subject access requests to answer" in caseload
        assert "answer by <strong>28 February 2027</strong>" in caseload

        client.post(reverse("caseload:subject_access_answered", args=[own_team.slug, sar.pk]))
        sar.refresh_from_db()
        assert (sar.answered_on, sar.answered_by) == (dt.date(2027, 1, 31), coordinator)
        assert "Subject access requests to answer" not in client.get(reverse("caseload:list", args=[own_team.slug])).content.decode()
        # Twice is told, not changed.
        response = client.post(reverse("caseload:subject_access_answered", args=[own_team.slug, sar.pk]), follow=True)
        assert "was marked answered on 31 January 2027" in response.content.decode()


def test_a_request_received_in_the_future_is_refused_and_nothing_is_logged(client, own_team, coordinator, everything_held):
    client.force_login(coordinator)
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    response = client.post(
        reverse("caseload:subject_access_new", args=[own_team.slug, everything_held.pk]),
        {"version": everything_held.version, "received_on": tomorrow.isoformat()},
    )
    assert response.status_code == 200
    assert "cannot be in the future" in response.content.decode()
    assert not SubjectAccessRequest.objects.exists()


def test_the_bundle_holds_everything_about_the_resident_as_json_and_pdf_and_is_access_logged(
    client, own_team, coordinator, everything_held, django_capture_on_commit_callbacks
):
    client.force_login(coordinator)
    # The record's own history is written by requests, so the history names who made each change.
    stepped = client.post(
        reverse("caseload:step_down", args=[own_team.slug, everything_held.pk]),
        {"version": everything_held.version, "on": timezone.localdate().isoformat(), "outcome": "goals_met", "feedback_score": "4"},
    )
    assert stepped.status_code == 302
    sar = SubjectAccessRequest.log(resident=everything_held, received_on=timezone.localdate(), by=coordinator)
    download = reverse("caseload:subject_access_download", args=[own_team.slug, sar.pk])
    not_yet = client.get(download, follow=True)
    assert "The record is not ready to download" in not_yet.content.decode()

    # Drawn by a worker once the request commits (in-process here).
    with django_capture_on_commit_callbacks(execute=True):
        produced = client.post(reverse("caseload:subject_access_produce", args=[own_team.slug, sar.pk]))
    assert produced.status_code == 302
    response = client.get(download)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert f"subject-access-{everything_held.pk}-" in response["Content-Disposition"]
    produced, text = unzip(response.content)
    sections = produced["sections"]
    assert set(sections) >= {
        "record", "history", "journey", "plan_goals", "plan_interventions", "discussions", "decisions", "actions",
        "service_use", "access_log", "subject_access_requests",
    }
    record = sections["record"]["rows"][0]
    assert (record["Given name"], record["Family name"], record["NHS number"]) == ("Olive", "Quennell", everything_held.nhs_number)
    assert record["Reason for referral"] == "Falls at home, lives alone"
    assert [row["Goal"] for row in sections["plan_goals"]["rows"]] == ["Walk to the corner shop by spring"]
    assert [row["Intervention"] for row in sections["plan_interventions"]["rows"]] == ["Tea and Talk"]
    assert [row["Notes"] for row in sections["discussions"]["rows"]] == ["Daughter worried about stairs"]
    assert [(row["Decision"], row["Clinical"]) for row in sections["decisions"]["rows"]] == [("Refer to the falls prevention service", "yes")]
    assert [row["Action"] for row in sections["actions"]["rows"]] == ["Book a home safety visit"]
    assert [row["Kind"] for row in sections["service_use"]["rows"]] == ["A&E attendance"]
    assert "Stepped down" in [row["What"] for row in sections["journey"]["rows"]]
    history = sections["history"]["rows"]
    assert {"Resident", "Goal", "AgendaItem", "Decision", "Action"} <= {row["What changed"] for row in history}
    assert any(row["By"] == coordinator.full_name and "step down outcome: goals_met" in row["Values"] for row in history)
    # This very production is in the access log it carries, beside the GP's earlier opening and
    # the records page the coordinator was sent back to.
    accesses = sections["access_log"]["rows"]
    assert [row["What"] for row in accesses] == ["Resident page", "Records page (requests, restrictions, retention)", "Subject access bundle"]
    assert accesses[-1]["Who"] == coordinator.full_name

    for words in ("Everything held about Olive Quennell", "Falls at home, lives alone", "Walk to the corner shop by spring",
                  "Tea and Talk", "Daughter worried about stairs", "Refer to the falls prevention service",
                  "Book a home safety visit", "A&E attendance", "Change history", "Subject access bundle"):
        assert words in text, words

    # Drawing it and downloading it are each in the resident's access log.
    logged = ResidentAccess.objects.filter(resident=everything_held, page=ResidentAccess.Page.SUBJECT_ACCESS).order_by("at", "pk")
    assert [(a.user, a.path) for a in logged] == [(coordinator, "subject access bundle"), (coordinator, download)]

    # The task run again draws nothing twice; answering the request drops the kept copy.
    assert produce_subject_access_bundle(sar.pk) is False
    sar.refresh_from_db()
    assert sar.bundle_ready and sar.bundle is not None
    client.post(reverse("caseload:subject_access_answered", args=[own_team.slug, sar.pk]))
    sar.refresh_from_db()
    assert sar.answered_on is not None and sar.bundle is None
    assert client.get(download).status_code == 302


def test_another_teams_coordinator_cannot_download_the_bundle(client, own_team, coordinator, outsider, everything_held):
    sar = SubjectAccessRequest.log(resident=everything_held, received_on=timezone.localdate(), by=coordinator)
    client.force_login(outsider)
    assert client.post(reverse("caseload:subject_access_produce", args=[own_team.slug, sar.pk])).status_code == 404
    assert client.get(reverse("caseload:subject_access_download", args=[own_team.slug, sar.pk])).status_code == 404
    sar.refresh_from_db()
    assert sar.bundle_requested_at is None
    assert not ResidentAccess.objects.filter(page=ResidentAccess.Page.SUBJECT_ACCESS).exists()


# --- restriction -------------------------------------------------------------------------------------


def test_a_restricted_record_leaves_suggestions_and_agendas_and_only_the_coordinator_reads_it(
    client, own_team, coordinator, django_capture_on_commit_callbacks
):
    resident = active(own_team, given_name="Winston", family_name="Abara")
    resident.add_goal(text="Back to the allotment", by=coordinator)
    make_action(resident, due_in_days=-3)  # overdue: the agenda suggests them
    building = make_meeting(own_team, days_ahead=7)
    published = make_meeting(own_team, days_ahead=8, published=True)
    AgendaItem.objects.create(meeting=building, resident=resident, position=1)
    AgendaItem.objects.create(meeting=published, resident=resident, position=1)
    next_week = make_meeting(own_team, days_ahead=14)
    suggested = lambda: {s.resident for group in agenda_suggestions(meeting=next_week) for s in group.suggestions}  # noqa: E731
    assert resident in suggested()

    with time_machine.travel(at(2027, 5, 4, 15), tick=False), django_capture_on_commit_callbacks(execute=True):
        client.force_login(coordinator)
        response = client.post(
            reverse("caseload:restrict", args=[own_team.slug, resident.pk]),
            {"version": resident.version, "reason": "Objected to the team sharing his information"},
        )
    client.force_login(coordinator)
    assert response.status_code == 302
    resident.refresh_from_db()
    assert resident.is_restricted and resident.restricted_by == coordinator

    # Off the suggestions, the search, the add form, and the agenda still being built; the
    # published agenda is the record of what was planned and keeps the item.
    assert resident not in suggested()
    assert resident_search(meeting=building, query="Abara") == []
    assert not building.items.filter(resident=resident).exists()
    assert published.items.filter(resident=resident).exists()
    assert Resident.objects.open_to_planning().filter(pk=resident.pk).count() == 0

    page = client.get(resident.get_absolute_url()).content.decode()
    assert "Record restricted" in page
    assert "Restricted since 4 May 2027 by" in page and "Objected to the team sharing his information" in page
    # The journey stands still while restricted.
    assert reverse("caseload:step_down", args=[own_team.slug, resident.pk]) not in page

    for role in (Role.GP, Role.SOCIAL_WORKER, Role.NEIGHBOURHOOD_EXPERT):
        client.force_login(member(own_team, role))
        assert client.get(resident.get_absolute_url()).status_code == 404
        assert client.get(reverse("caseload:support_plan", args=[own_team.slug, resident.pk])).status_code == 404
        listed = client.get(reverse("caseload:list", args=[own_team.slug]) + "?status=all").content.decode()
        assert "Abara" not in listed


def test_lifting_a_restriction_is_audited_and_puts_the_resident_back(client, own_team, coordinator):
    resident = active(own_team, family_name="Okafor")
    resident.restrict(reason="Withdrew consent", by=coordinator)
    client.force_login(coordinator)
    response = client.post(
        reverse("caseload:lift_restriction", args=[own_team.slug, resident.pk]),
        {"version": resident.version, "reason": "Gave consent again in person"},
    )
    assert response.status_code == 302
    resident.refresh_from_db()
    assert not resident.is_restricted
    assert list(resident.events.filter(kind__in=["restricted", "restriction_lifted"]).values_list("kind", "detail")) == [
        ("restriction_lifted", "Gave consent again in person"),
        ("restricted", "Withdrew consent"),
    ]
    assert resident.audit_changes.filter(restricted_at__isnull=False).exists()  # the trail kept both
    assert Resident.objects.open_to_planning().filter(pk=resident.pk).exists()
    client.force_login(member(own_team, Role.GP))
    assert client.get(resident.get_absolute_url()).status_code == 200


def test_a_restriction_needs_a_reason_and_nothing_changes_without_one(client, own_team, coordinator):
    resident = active(own_team)
    client.force_login(coordinator)
    response = client.post(reverse("caseload:restrict", args=[own_team.slug, resident.pk]), {"version": resident.version, "reason": "  "})
    assert response.status_code == 200
    resident.refresh_from_db()
    assert not resident.is_restricted


# --- retention ---------------------------------------------------------------------------------------


@pytest.fixture
def closed_in_2019(own_team, coordinator) -> Resident:
    """A resident whose case closed on 15 March 2019, with free text everywhere."""
    with time_machine.travel(at(2019, 3, 15), tick=False):
        resident = stepped_down(own_team, given_name="Parveen", family_name="Lockwood", referral_reason="Lonely since her husband died")
        resident.close(on=timezone.localdate(), by=coordinator)
        goal = resident.goals.create(text="Join the Tuesday choir", created_by=coordinator)
        meeting = make_meeting(own_team, days_ahead=-10, published=True)
        item = AgendaItem.objects.create(meeting=meeting, resident=resident, position=1, notes="Spoke about her grief")
        record_decision(item, "Offer bereavement counselling")
        make_action(resident, item=item, description="Call Cruse for Parveen", status=Action.Status.CANCELLED)
        service_use(resident, "primary_care_appointment", days_ago=100)
        goal.set_status = None
    return resident


def test_a_closed_record_is_kept_for_eight_years_then_retired_with_its_history(own_team, coordinator, closed_in_2019):
    resident = closed_in_2019
    assert resident.audit_changes.filter(family_name="Lockwood").exists()
    with time_machine.travel(at(2027, 3, 14), tick=False):  # 7 years 364 days after closure
        assert retire_due_records_task() == 0
    resident.refresh_from_db()
    assert resident.family_name == "Lockwood"

    with time_machine.travel(at(2027, 3, 15), tick=False):  # 8 years
        assert retire_due_records_task() == 1
    resident.refresh_from_db()
    assert (resident.given_name, resident.family_name, resident.nhs_number, resident.date_of_birth) == (
        "Retired", f"record {resident.pk}", "", None
    )
    assert resident.referral_reason == "" and resident.retired_at is not None
    assert (resident.status, resident.closed_on, resident.feedback_score) == ("closed", dt.date(2019, 3, 15), 5)
    assert list(resident.goals.values_list("text", flat=True)) == [""]
    assert AgendaItem.objects.get(resident=resident).notes == ""
    assert Decision.objects.get(agenda_item__resident=resident).text == ""
    action = Action.objects.get(resident=resident)
    assert (action.description, action.cancel_reason) == ("", "Removed at retirement")
    assert set(ActionUpdate.objects.filter(action=action).values_list("comment", flat=True)) == {""}
    assert resident.service_use.count() == 1  # counted still, tied to the anonymous record
    assert resident.events.filter(kind=ResidentEvent.Kind.RETIRED).exists()
    assert not resident.events.exclude(kind=ResidentEvent.Kind.RETIRED).exclude(detail="").exists()

    # The history keeps no copy of what was removed.
    history = resident.audit_changes.all()
    assert history.exists()
    assert not history.filter(family_name="Lockwood").exists()
    assert not history.exclude(nhs_number="").exists()
    assert not history.filter(date_of_birth__isnull=False).exists()
    assert not history.exclude(referral_reason="").exists()
    from django.apps import apps

    for model, field in (("GoalChange", "text"), ("AgendaItemChange", "notes"), ("ActionChange", "description")):
        rows = apps.get_model("audit", model).objects.filter(resident_id=resident.pk)
        assert rows.exists() and not rows.exclude(**{field: ""}).exists(), model
    decisions = apps.get_model("audit", "DecisionChange").objects.filter(agenda_item_id=AgendaItem.objects.get(resident=resident).pk)
    assert decisions.exists() and not decisions.exclude(text="").exists()
    # ... and still refuses any other change.
    with pytest.raises(InternalError, match="Cannot update or delete"), transaction.atomic():
        history.update(family_name="Lockwood")

    # Re-running retires nothing twice.
    with time_machine.travel(at(2027, 4, 1), tick=False):
        assert retire_due_records_task() == 0
    assert resident.events.filter(kind=ResidentEvent.Kind.RETIRED).count() == 1


def test_a_record_closed_on_29_february_is_retired_on_29_february_eight_years_on(own_team, coordinator):
    with time_machine.travel(at(2020, 2, 29), tick=False):
        resident = stepped_down(own_team)
        resident.close(on=timezone.localdate(), by=coordinator)
    assert retire_due_records(today=dt.date(2028, 2, 28)) == []
    assert retire_due_records(today=dt.date(2028, 2, 29)) == [resident.pk]


def test_the_dry_run_page_shows_exactly_what_the_next_run_retires(client, own_team, other_team, coordinator, closed_in_2019):
    with time_machine.travel(at(2019, 4, 20), tick=False):
        later = stepped_down(own_team, family_name="Later")
        later.close(on=timezone.localdate(), by=coordinator)
    with time_machine.travel(at(2019, 3, 1), tick=False):
        elsewhere = stepped_down(other_team, family_name="Elsewhere")
        elsewhere.close(on=timezone.localdate(), by=member(other_team, Role.COORDINATOR))
    still_open = active(own_team, family_name="Stillopen")

    with time_machine.travel(at(2027, 3, 20), tick=False):
        client.force_login(coordinator)
        assert next_retirement_run() == dt.date(2027, 4, 1)
        page = client.get(reverse("caseload:retention", args=[own_team.slug])).content.decode()
        assert "The next run is on <strong>1 April 2027</strong>" in page
        assert "Lockwood" in page and "15 Mar 2027" in page
        for name in ("Later", "Elsewhere", "Stillopen"):
            assert name not in page
        # Nothing changed, and the listing is in the residents' access logs.
        assert Resident.objects.filter(retired_at__isnull=False).count() == 0
        assert ResidentAccess.objects.filter(resident=closed_in_2019, page=ResidentAccess.Page.RECORDS).exists()

    with time_machine.travel(at(2027, 4, 1, 4), tick=False):
        retired = retire_due_records()
    assert set(retired) == {closed_in_2019.pk, elsewhere.pk}  # the other team's page shows theirs
    assert not Resident.objects.filter(pk__in=[later.pk, still_open.pk], retired_at__isnull=False).exists()


def test_the_kpis_are_computed_the_same_with_retired_residents(own_team):
    residents = [supported(own_team, feedback=4) for _ in range(3)]
    for resident, (before, after) in zip(residents, [(4, 2), (6, 3), (2, 2)], strict=True):
        before_and_after(resident, before, after)
    Resident.objects.filter(pk__in=[r.pk for r in residents]).update(status=Resident.Status.CLOSED, closed_on=dt.date(2019, 1, 1))
    first = figure(kpis_recompute(), own_team.pk)

    assert len(retire_due_records(today=dt.date(2027, 1, 1))) == 3
    again = figure(kpis_recompute(), own_team.pk)
    assert (again.n, again.baseline, again.followup, again.pct_change) == (first.n, first.baseline, first.followup, first.pct_change)
    assert (first.n, first.baseline) == (3, 12)


def test_two_retired_records_of_once_open_episodes_do_not_clash_on_the_nhs_number(own_team, coordinator):
    with time_machine.travel(at(2018, 6, 1), tick=False):
        first, second = stepped_down(own_team), stepped_down(own_team)
        first.close(on=timezone.localdate(), by=coordinator)
        second.close(on=timezone.localdate(), by=coordinator)
    assert len(retire_due_records(today=dt.date(2026, 6, 1))) == 2
    assert set(Resident.objects.filter(pk__in=[first.pk, second.pk]).values_list("nhs_number", flat=True)) == {""}


def test_the_retired_record_page_says_what_happened(client, own_team, coordinator, closed_in_2019):
    retire_due_records(today=dt.date(2027, 3, 15))
    client.force_login(coordinator)
    page = client.get(closed_in_2019.get_absolute_url()).content.decode()
    assert "This record was retired on" in page
    assert "Lockwood" not in page


# --- the list pages read in a fixed number of queries ------------------------------------------------


@pytest.mark.parametrize("page", ["caseload:records", "caseload:retention", "caseload:list"])
def test_the_records_pages_do_not_read_more_for_more_requests_restrictions_or_records_due(client, own_team, coordinator, page):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url = reverse(page, args=[own_team.slug])

    def add(n: int) -> None:
        with time_machine.travel(at(2016, 5, 3), tick=False):
            closed = [stepped_down(own_team) for _ in range(n)]
            for resident in closed:
                resident.close(on=timezone.localdate(), by=coordinator)
        for _ in range(n):
            resident = active(own_team)
            SubjectAccessRequest.log(resident=resident, received_on=timezone.localdate(), by=coordinator)
            active(own_team).restrict(reason="Objected", by=coordinator)

    def queries() -> int:
        client.force_login(coordinator)
        client.get(url)  # the first request after login does extra session work
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured.captured_queries)

    add(2)
    with_two = queries()
    add(8)
    assert queries() == with_two
