"""A practice pressure report is for a week the database can hold: anything else is refused by
its constraint."""

import datetime as dt

import pytest
from django.db import IntegrityError, transaction

from int_app.teams.roles import Role
from pressure.models import PressureReport

from ..conftest import member


@pytest.mark.parametrize("week", [dt.date(1, 1, 1), dt.date(1999, 12, 27), dt.date(2100, 1, 4), dt.date(9999, 12, 27)])
def test_the_database_refuses_a_pressure_week_out_of_range_by_its_constraint(own_team, week):
    report = PressureReport.objects.create(
        practice=own_team.practices.first(), week_start=dt.date(2027, 3, 8), level=3, reported_by=member(own_team, Role.PRACTICE_MANAGER)
    )
    assert week.weekday() == 0, "a Monday, so that only the range can refuse it"
    with pytest.raises(IntegrityError, match="pressure_week_in_range"), transaction.atomic():
        PressureReport.objects.filter(pk=report.pk).update(week_start=week)
