"""The KPI filters take months from January 2000 to this month, and a practice pressure report is
for a week the database can hold: anything else is refused, never a 500."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.urls import reverse

from int_app.teams.roles import Role
from kpis.models import PressureReport

from ..conftest import member


@pytest.fixture(autouse=True)
def _a_wednesday_in_march_2027():
    with time_machine.travel(dt.datetime(2027, 3, 10, 10, 30, tzinfo=ZoneInfo("Europe/London")), tick=False):
        yield


@pytest.fixture
def lead(own_team):
    return member(own_team, Role.PCN_LEAD)


@pytest.mark.parametrize(
    ("month", "message"),
    [
        ("0001-01", "The month must be on or after 1 January 2000."),
        ("1999-12", "The month must be on or after 1 January 2000."),
        ("2027-04", "The month cannot be in the future."),
        ("9999-12", "The month cannot be in the future."),
    ],
)
@pytest.mark.parametrize("field", ["start_from", "start_to"])
def test_a_kpi_filter_month_out_of_range_is_refused_with_a_message(client, lead, field, month, message):
    client.force_login(lead)
    page = client.get(reverse("kpis:dashboard"), {field: month})
    assert page.status_code == 200 and message in page.text
    assert client.get(reverse("kpis:export"), {field: month}).status_code == 200


def test_the_first_month_allowed_and_this_month_are_taken(client, lead):
    client.force_login(lead)
    page = client.get(reverse("kpis:dashboard"), {"start_from": "2000-01", "start_to": "2027-03"})
    assert page.status_code == 200 and "nhsuk-error-message" not in page.text


@pytest.mark.parametrize("week", [dt.date(1, 1, 1), dt.date(1999, 12, 27), dt.date(2100, 1, 4), dt.date(9999, 12, 27)])
def test_the_database_refuses_a_pressure_week_out_of_range_by_its_constraint(own_team, week):
    report = PressureReport.objects.create(
        practice=own_team.practices.first(), week_start=dt.date(2027, 3, 8), level=3, reported_by=member(own_team, Role.PRACTICE_MANAGER)
    )
    assert week.weekday() == 0, "a Monday, so that only the range can refuse it"
    with pytest.raises(IntegrityError, match="pressure_week_in_range"), transaction.atomic():
        PressureReport.objects.filter(pk=report.pk).update(week_start=week)
