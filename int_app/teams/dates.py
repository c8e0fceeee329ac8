"""The dates people may enter, in one place: what each kind of date may be, for the forms and the
service-use import (bounds that may move with today, taken when the value is checked), and the
fixed bounds the database holds as named check constraints (today moves, so a constraint cannot
say "not in the future": it holds a wide fixed bound instead)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

EARLIEST_BIRTH = dt.date(1900, 1, 1)
# Nothing the INTs record (referrals, the journey, service use, meetings, actions) is older than this.
EARLIEST_RECORD = dt.date(2000, 1, 1)
# The database refuses any stored date from this day on: far past every bound the forms apply.
STORED_BEFORE = dt.date(2100, 1, 1)


def years_from(day: dt.date, years: int) -> dt.date:
    """The same day `years` later (or earlier); 29 February becomes 28 February in other years."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def long_date(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


@dataclass(frozen=True)
class DateRule:
    """The days a kind of date may be: from `earliest` (and not more than `years_back` before
    today, when set) to `years_ahead` after today (0: not in the future)."""

    what: str  # how the messages name the date: "The date of birth"
    earliest: dt.date
    years_back: int | None = None
    years_ahead: int = 0

    def limits(self, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
        today = today or timezone.localdate()
        earliest = self.earliest
        if self.years_back is not None:
            earliest = max(earliest, years_from(today, -self.years_back))
        return earliest, years_from(today, self.years_ahead)

    def problem(self, day: dt.date, *, today: dt.date | None = None) -> str | None:
        """What is wrong with the day, in words for the person who entered it (no full stop, so the
        importer can list it with a row's other problems); None when nothing is."""
        earliest, latest = self.limits(today)
        if day < earliest:
            return f"{self.what} must be on or after {long_date(earliest)}"
        if day > latest:
            if self.years_ahead == 0:
                return f"{self.what} cannot be in the future"
            return f"{self.what} must be on or before {long_date(latest)}"
        return None

    def validate(self, day: dt.date) -> None:
        """A form field's validator."""
        problem = self.problem(day)
        if problem:
            raise ValidationError(f"{problem}.", code="date_out_of_range")

    def constraint(self, field: str, *, name: str, nullable: bool = False, moment: bool = False) -> models.CheckConstraint:
        """The fixed bounds as a named check constraint on `field` (a DateTimeField when `moment`)."""
        earliest, before = self.earliest, STORED_BEFORE
        if moment:
            earliest, before = (dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) for day in (earliest, before))
        within = Q(**{f"{field}__gte": earliest, f"{field}__lt": before})
        if nullable:
            within |= Q(**{f"{field}__isnull": True})
        return models.CheckConstraint(
            condition=within,
            name=name,
            violation_error_message=(
                f"{self.what[0].upper()}{self.what[1:]} must be on or after {long_date(self.earliest)} and before {long_date(STORED_BEFORE)}."
            ),
        )


DATE_OF_BIRTH = DateRule("The date of birth", EARLIEST_BIRTH)
REFERRAL_DATE = DateRule("The referral date", EARLIEST_RECORD)
TRIAGE_DATE = DateRule("The triage date", EARLIEST_RECORD)
INTERVENTION_START = DateRule("The intervention start date", EARLIEST_RECORD)
CONSENT_DATE = DateRule("The consent date", EARLIEST_RECORD)
STEP_DOWN_DATE = DateRule("The step-down date", EARLIEST_RECORD)
CLOSING_DATE = DateRule("The closing date", EARLIEST_RECORD)
SERVICE_USE_DATE = DateRule("the date", EARLIEST_RECORD)  # lower case: the importer lists it mid-sentence
# A meeting is held within two years of today, either side; the move form refuses the past itself.
MEETING_DATE = DateRule("The meeting date", EARLIEST_RECORD, years_back=2, years_ahead=2)
ACTION_DUE_DATE = DateRule("The due date", EARLIEST_RECORD, years_ahead=2)
PRESSURE_WEEK = DateRule("The week", EARLIEST_RECORD)
KPI_MONTH = DateRule("The month", EARLIEST_RECORD)
SUBJECT_ACCESS_DATE = DateRule("The date the request was received", EARLIEST_RECORD)
