"""The KPI filters take months from January 2000 to this month: anything else is refused, never a 500."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from int_app.teams.roles import Role

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
