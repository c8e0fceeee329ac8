"""Population extracts for tests: rows by months back from the extract's last month (last month)."""

from __future__ import annotations

import datetime

from django.utils import timezone

from caseload.models import add_months
from int_app.teams.models import Team
from tests.factories import valid_nhs_number

HEADER = "nhs_number,practice_ods,birth_year,sex,month,kind,contacts"


def last_month() -> datetime.date:
    """The extract's last month: the month before today's."""
    return add_months(timezone.localdate().replace(day=1), -1)


def month(back: int) -> datetime.date:
    """`back` months before the extract's last month (0 is the last month)."""
    return add_months(last_month(), -back)


def extract_rows(team: Team, people: dict[str, tuple] | None = None) -> list[tuple]:
    """Rows for population_load_unchecked: `people` maps an NHS number to (practice, birth year,
    sex, {months back: {kind: contacts}}); a filler person makes the extract cover 25 months."""
    practice = team.practices.order_by("pk").first()
    people = dict(people or {valid_nhs_number(900_001): (practice, 1950, "F", {1: {"ae_attendance": 2}})})
    people.setdefault(valid_nhs_number(900_777), (practice, 1980, "M", {24: {"nhs_111_call": 1}, 0: {"nhs_111_call": 1}}))
    return [
        (nhs_number, chosen.pk, born, sex, month(back), kind, n)
        for nhs_number, (chosen, born, sex, by_month) in people.items()
        for back, kinds in by_month.items()
        for kind, n in kinds.items()
    ]


def extract_csv(rows: list[tuple], *, team: Team | None = None, header: str = HEADER) -> bytes:
    """Rows as the ICB's file holds them: the practice as its ODS code and the month as YYYY-MM."""
    from int_app.teams.models import Practice

    codes = dict(Practice.objects.values_list("pk", "ods_code"))
    lines = [header] + [
        f"{nhs},{codes[practice_id]},{born},{sex},{when:%Y-%m},{kind},{n}" for nhs, practice_id, born, sex, when, kind, n in rows
    ]
    return ("\n".join(lines) + "\n").encode()
