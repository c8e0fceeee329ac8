"""Absurd dates never get in, and the pages survive whatever dates are stored: a date of birth
from 1900, the referral, the journey and service use from 2000, none of them in the future. The
forms say so; the database holds the fixed bounds as named check constraints."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.urls import reverse

from caseload.models import (
    ImportJob,
    Resident,
    ServiceUseEvent,
    ServiceUseMonths,
    add_months,
)
from caseload.services import import_job_create
from int_app.teams.roles import Role

from ..conftest import member
from .factories import ServiceUseFactory, accepted, active, referred, stepped_down
from .test_referral import referral

TODAY = dt.date(2027, 3, 10)
TOMORROW = TODAY + dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def _a_wednesday_in_march_2027():
    with time_machine.travel(dt.datetime(2027, 3, 10, 10, 30, tzinfo=ZoneInfo("Europe/London")), tick=False):
        yield


def url(name: str, resident: Resident) -> str:
    return reverse(f"caseload:{name}", args=[resident.team.slug, resident.pk])


@pytest.mark.parametrize(
    ("born", "message"),
    [
        ("0001-01-01", "The date of birth must be on or after 1 January 1900."),
        ("1899-12-31", "The date of birth must be on or after 1 January 1900."),
        (TOMORROW.isoformat(), "The date of birth cannot be in the future."),
        ("9999-12-31", "The date of birth cannot be in the future."),
    ],
)
def test_a_referral_with_an_absurd_date_of_birth_is_refused_with_a_message_and_nothing_is_saved(client, own_team, coordinator, born, message):
    client.force_login(coordinator)
    response = client.post(reverse("caseload:refer"), referral(own_team.practices.first(), date_of_birth=born))
    assert response.status_code == 200 and message in response.text
    assert not Resident.objects.exists()


@pytest.mark.parametrize(
    ("referred_on", "message"),
    [
        ("0001-01-01", "The referral date must be on or after 1 January 2000."),
        ("1999-12-31", "The referral date must be on or after 1 January 2000."),
        (TOMORROW.isoformat(), "The referral date cannot be in the future."),
        ("9999-12-31", "The referral date cannot be in the future."),
    ],
)
def test_a_referral_dated_before_2000_or_in_the_future_is_refused(client, own_team, coordinator, referred_on, message):
    client.force_login(coordinator)
    response = client.post(reverse("caseload:refer"), referral(own_team.practices.first(), referral_date=referred_on))
    assert response.status_code == 200 and message in response.text
    assert not Resident.objects.exists()


def test_a_referral_on_the_first_days_allowed_and_today_is_taken(client, own_team, coordinator):
    client.force_login(coordinator)
    practice = own_team.practices.first()
    assert client.post(reverse("caseload:refer"), referral(practice, date_of_birth="1900-01-01", referral_date="2000-01-01")).status_code == 302
    Resident.objects.update(status=Resident.Status.CLOSED)  # so that the same person can be referred again
    assert client.post(reverse("caseload:refer"), referral(practice, date_of_birth="1948-02-29", referral_date=TODAY.isoformat())).status_code == 302
    assert sorted(Resident.objects.values_list("date_of_birth", "referral_date")) == [
        (dt.date(1900, 1, 1), dt.date(2000, 1, 1)),
        (dt.date(1948, 2, 29), TODAY),
    ]


JOURNEY_FORMS = [
    ("triage", referred, {"decision": "not_accept", "not_accepted_reason": "declined"}, "The triage date"),
    ("start_intervention", accepted, {}, "The intervention start date"),
    ("record_consent", lambda team: active(team, consent=False), {"method": Resident.ConsentMethod.IN_PERSON}, "The consent date"),
    ("step_down", active, {"outcome": Resident.StepDownOutcome.GOALS_MET}, "The step-down date"),
    ("close", stepped_down, {}, "The closing date"),
]


@pytest.mark.parametrize(("page", "make", "fields", "what"), JOURNEY_FORMS, ids=[form[0] for form in JOURNEY_FORMS])
@pytest.mark.parametrize(
    ("day", "says"),
    [("0001-01-01", "must be on or after 1 January 2000."), ("1999-12-31", "must be on or after 1 January 2000."), ("9999-12-31", "cannot be in the future.")],
)
def test_a_step_of_the_journey_dated_out_of_range_is_refused_and_changes_nothing(client, own_team, coordinator, page, make, fields, what, day, says):
    resident = make(own_team)
    client.force_login(coordinator)
    response = client.post(url(page, resident), {"version": resident.version, "on": day, **fields})
    assert response.status_code == 200 and f"{what} {says}" in response.text
    before = resident.version
    resident.refresh_from_db()
    assert resident.version == before


# The database refuses what the forms would: each bound is a named constraint.
OUT_OF_RANGE = [
    ("date_of_birth", dt.date(1, 1, 1), "resident_date_of_birth_in_range"),
    ("date_of_birth", dt.date(1899, 12, 31), "resident_date_of_birth_in_range"),
    ("date_of_birth", dt.date(9999, 12, 31), "resident_date_of_birth_in_range"),
    ("referral_date", dt.date(1999, 12, 31), "resident_referral_date_in_range"),
    ("referral_date", dt.date(2100, 1, 1), "resident_referral_date_in_range"),
    ("triaged_on", dt.date(1, 1, 1), "resident_triaged_on_in_range"),
    ("intervention_start", dt.date(9999, 12, 31), "resident_intervention_start_in_range"),
    ("consent_date", dt.date(1999, 12, 31), "resident_consent_date_in_range"),
    ("stepped_down_on", dt.date(9999, 12, 31), "resident_stepped_down_on_in_range"),
    ("closed_on", dt.date(1, 1, 1), "resident_closed_on_in_range"),
]


@pytest.mark.parametrize(("field", "value", "constraint"), OUT_OF_RANGE)
def test_the_database_refuses_a_stored_date_out_of_range_by_its_constraint(own_team, field, value, constraint):
    resident = active(own_team)
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        Resident.objects.filter(pk=resident.pk).update(**{field: value})


@pytest.mark.parametrize("day", [dt.date(1, 1, 1), dt.date(1999, 12, 31), dt.date(2100, 1, 1), dt.date(9999, 12, 31)])
def test_the_database_refuses_service_use_out_of_range(own_team, day):
    event = ServiceUseFactory(resident=active(own_team))
    with pytest.raises(IntegrityError, match="service_use_date_in_range"), transaction.atomic():
        ServiceUseEvent.objects.filter(pk=event.pk).update(date=day)


def test_the_resident_pages_still_render_for_dates_stored_at_the_bounds(client, own_team, coordinator):
    """The widest the database holds: born 1 January 1900, referred on 1 January 2000 and started
    on the last day before 2100, with service use on both edges."""
    resident = stepped_down(own_team)
    Resident.objects.filter(pk=resident.pk).update(
        date_of_birth=dt.date(1900, 1, 1), referral_date=dt.date(2000, 1, 1), triaged_on=dt.date(2000, 1, 1),
        intervention_start=dt.date(2099, 12, 31), consent_date=dt.date(2099, 12, 31), stepped_down_on=dt.date(2099, 12, 31),
    )
    ServiceUseFactory(resident=resident, date=dt.date(2000, 1, 1))
    ServiceUseFactory(resident=resident, date=dt.date(2099, 12, 31))
    client.force_login(coordinator)
    for page in ("resident", "support_plan", "close"):
        assert client.get(url(page, resident)).status_code == 200, page
    summary = client.get(url("resident", resident)).text
    assert "1 January 1900" in summary and ">127<" in summary.replace(" ", "").replace("\n", "")
    assert client.get(reverse("caseload:list", args=[own_team.slug]), {"status": "all", "sort": "contact"}).status_code == 200


@pytest.mark.parametrize("anchor", [dt.date(1, 1, 1), dt.date(1, 11, 30), dt.date(9999, 2, 1), dt.date(9999, 12, 31)])
def test_the_service_use_chart_survives_an_anchor_at_the_calendar_edges(anchor):
    """Stored before the constraints, or by hand: a start in year 1 or 9999 must not break the page."""
    months = ServiceUseMonths(anchor=anchor.replace(day=1), from_intervention=True, counts={(anchor.replace(day=1), "ae_attendance"): 2})
    assert len(months.rows()) == 24 and len(months.chart_data()["months"]) == 24
    assert months.before_and_after() == [{"kind": "A&E attendance", "before": 0, "after": 2}]
    assert dt.date(1, 1, 1) <= add_months(anchor, -12) <= add_months(anchor, 12) <= dt.date(9999, 12, 1)


def test_the_residents_own_chart_survives_a_referral_in_year_one(own_team):
    resident = referred(own_team)
    resident.referral_date = dt.date(1, 1, 1)  # as a page would read it, had it been stored before the constraint
    assert resident.service_use_by_month().anchor == dt.date(1, 1, 1)
    resident.referral_date = dt.date(9999, 12, 31)
    assert len(resident.service_use_by_month().rows()) == 24


def extract(*rows: str) -> bytes:
    return "\n".join(["nhs_number,date,kind,source,source_id", *rows, ""]).encode()


def test_a_service_use_row_dated_before_2000_is_refused_at_its_line_and_nothing_loads(own_team, coordinator):
    resident = active(own_team)
    job = import_job_create(
        content=extract(
            f"{resident.nhs_number},2000-01-01,ae_attendance,ED,1",
            f"{resident.nhs_number},1999-12-31,ae_attendance,ED,2",
            f"{resident.nhs_number},{TOMORROW},ae_attendance,ED,3",
        ),
        file_name="extract.csv", teams=[own_team], by=member(own_team, Role.COORDINATOR),
    )
    assert job.status == ImportJob.Status.REFUSED
    assert {error["line"]: error["message"] for error in job.errors} == {
        3: "the date must be on or after 1 January 2000.",
        4: "the date cannot be in the future.",
    }
    assert not ServiceUseEvent.objects.exists()


def test_service_use_on_the_first_day_allowed_and_today_loads(own_team, coordinator):
    resident = active(own_team)
    job = import_job_create(
        content=extract(f"{resident.nhs_number},2000-01-01,ae_attendance,ED,1", f"{resident.nhs_number},{TODAY},ae_attendance,ED,2"),
        file_name="extract.csv", teams=[own_team], by=coordinator,
    )
    assert (job.status, job.rows_loaded) == (ImportJob.Status.DONE, 2)
