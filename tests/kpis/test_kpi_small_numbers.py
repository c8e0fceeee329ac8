"""Small numbers: a figure about fewer than KPI_MIN_RESIDENTS residents shows no counts, no
percentage and no interval, only "fewer than 10 residents", wherever the PCN lead looks: the tiles,
the tables, the chart data and the CSV, for the supported residents, the comparator and their
difference, and for feedback and the process measures that count residents."""

import csv
import datetime
import io
import json
import re

import pytest
from django.urls import reverse

from caseload.models import Resident
from int_app.teams.roles import Role
from kpis.compute import kpis_recompute
from kpis.statistics import ChangeSums, change_with_interval
from kpis.templatetags.kpi_format import signed_number, signed_pct

from ..conftest import member
from .kpi_builders import (
    COMPLETE_START,
    TODAY,
    before_and_after,
    months_ago,
    not_supported,
    supported,
)

WITHHELD = "fewer than 10 residents"
LONE_MONTH = months_ago(12)
# The lone resident's contacts: 37 before and 11 after (−70.3 %); the lone comparator's 23 and 19.
LONE_BEFORE, LONE_AFTER, LONE_PCT = 37, 11, "\u221270.3%"
LONE_COMPARATOR_PCT = "\u221217.4%"


@pytest.fixture
def lead(own_team):
    return member(own_team, Role.PCN_LEAD)


@pytest.fixture
def lone_month(own_team):
    """Twelve supported residents who started in one month, and one who started alone in another
    (beside one comparator resident referred that month), with a feedback score of 2."""
    for _ in range(12):
        before_and_after(supported(own_team, feedback=4), 5, 3)
    for _ in range(10):
        before_and_after(not_supported(own_team), 5, 4)
    before_and_after(supported(own_team, start=LONE_MONTH, feedback=2), LONE_BEFORE, LONE_AFTER)
    before_and_after(not_supported(own_team, referred=LONE_MONTH), 23, 19)
    return kpis_recompute()


def chart_data(page: str) -> tuple[str, dict]:
    text = re.search(r'<script id="kpi-trend-data" type="application/json">(.*?)</script>', page, re.DOTALL).group(1)
    return text, json.loads(text)


def rows_of(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def month_of(day: datetime.date) -> dict[str, str]:
    return {"start_from": f"{day:%Y-%m}", "start_to": f"{day:%Y-%m}"}


def unit_filters(team) -> list[dict]:
    """Every way to choose what the figures are about: everything, the neighbourhood, the team,
    the PCN, and a kind of contact for the tables."""
    return [
        {},
        {"neighbourhood": team.neighbourhood_id},
        {"team": team.pk},
        {"pcn": team.pcns.get().pk},
        {"kind": "ae_attendance"},
    ]


def assert_lone_resident_hidden(page: str) -> None:
    for shown in (
        f"{LONE_BEFORE} before", f">{LONE_BEFORE}<", f">{LONE_AFTER}<", LONE_PCT, LONE_COMPARATOR_PCT,
        "1 residents", "(n 1)", "% to ", "out of 5</th>", "Mean score at step-down from",
    ):
        assert shown not in page, shown
    assert WITHHELD in page


def test_one_cohort_month_of_one_resident_shows_only_fewer_than_10_residents_under_every_filter(
    client, lead, lone_month, own_team
):
    client.force_login(lead)
    for unit in unit_filters(own_team):
        query = {**unit, **month_of(LONE_MONTH)}
        for headers in ({}, {"HX-Request": "true"}):
            response = client.get(reverse("kpis:dashboard"), query, headers=headers)
            assert response.status_code == 200
            assert_lone_resident_hidden(response.text)
            text, chart = chart_data(response.text)
            assert chart["months"] == [f"{LONE_MONTH:%b %Y}"]
            assert all(series["values"] == [None] for series in chart["cohorts"] + chart["kinds"]), query
            assert "70.3" not in text and "17.4" not in text


def test_the_export_of_one_resident_has_no_counts_percentages_or_intervals(client, lead, lone_month, own_team):
    client.force_login(lead)
    for unit in unit_filters(own_team):
        rows = rows_of(client.get(reverse("kpis:export"), {**unit, **month_of(LONE_MONTH)}))
        assert rows
        for row in rows:
            assert row["residents"] == WITHHELD and row["comparator_pct_change"] == WITHHELD
            assert row["baseline"] == row["followup"] == row["pct_change"] == row["ci_low"] == row["ci_high"] == ""


def test_the_months_table_and_chart_keep_the_lone_month_withheld_beside_a_month_that_is_shown(client, lead, lone_month):
    client.force_login(lead)
    page = client.get(reverse("kpis:dashboard")).text
    _text, chart = chart_data(page)
    assert chart["months"] == [f"{LONE_MONTH:%b %Y}", f"{COMPLETE_START:%b %Y}"]
    assert chart["cohorts"][0]["values"] == [None, -40.0]
    assert chart["cohorts"][1]["values"] == [None, -20.0]
    assert LONE_PCT not in page and LONE_COMPARATOR_PCT not in page and WITHHELD in page
    # All months together: 13 residents and 11 comparator residents, enough to show.
    assert "13 residents: 97 before, 47 after" in page


def boundary_month(team, month: datetime.date, *, supported_residents: int, comparator_residents: int):
    """Residents whose contacts differ, so the change has an interval; the sums the page should show."""
    pairs = [(4 + index % 3, 2 + index % 2) for index in range(supported_residents)]
    comparator_pairs = [(6, 5 + index % 2) for index in range(comparator_residents)]
    for before, after in pairs:
        before_and_after(supported(team, start=month), before, after)
    for before, after in comparator_pairs:
        before_and_after(not_supported(team, referred=month), before, after)
    return (
        change_with_interval(ChangeSums.of_residents(pairs), min_residents=10),
        change_with_interval(ChangeSums.of_residents(comparator_pairs), min_residents=10),
    )


def shown_strings(change) -> list[str]:
    return [
        f"{change.n} residents: {change.baseline} before, {change.followup} after",
        signed_pct(change.pct_change),
        f"{signed_pct(change.ci_low)} to {signed_pct(change.ci_high)}",
    ]


def test_at_ten_residents_a_figure_is_shown_and_at_nine_it_is_withheld_with_the_difference(client, lead, own_team):
    both_ten = boundary_month(own_team, months_ago(10), supported_residents=10, comparator_residents=10)
    nine_supported = boundary_month(own_team, months_ago(11), supported_residents=9, comparator_residents=10)
    nine_compared = boundary_month(own_team, months_ago(12), supported_residents=10, comparator_residents=9)
    kpis_recompute()
    client.force_login(lead)

    supported_ten, comparator_ten = both_ten
    page = client.get(reverse("kpis:dashboard"), month_of(months_ago(10))).text
    for shown in shown_strings(supported_ten):
        assert shown in page
    difference = signed_number(supported_ten.pct_change - comparator_ten.pct_change, 1)
    assert f"Comparator: {signed_pct(comparator_ten.pct_change)} (10 residents)" in page
    assert f"Difference {difference} points" in page
    row = rows_of(client.get(reverse("kpis:export"), month_of(months_ago(10))))[0]
    assert row["residents"] == "10" and row["pct_change"] == f"{supported_ten.pct_change:.1f}"
    assert row["ci_low"] == f"{supported_ten.ci_low:.1f}" and row["comparator_pct_change"] == f"{comparator_ten.pct_change:.1f}"
    assert [round(supported_ten.pct_change, 1)] == chart_data(page)[1]["cohorts"][0]["values"]

    supported_nine, comparator_shown = nine_supported
    page = client.get(reverse("kpis:dashboard"), month_of(months_ago(11))).text
    for shown in shown_strings(supported_nine):
        assert shown not in page
    assert f"Comparator: {signed_pct(comparator_shown.pct_change)} (10 residents)" in page
    assert "Difference \u2212" not in page and "Difference +" not in page and f"Difference: {WITHHELD} in a cohort" in page
    assert chart_data(page)[1]["cohorts"][0]["values"] == [None]
    row = rows_of(client.get(reverse("kpis:export"), month_of(months_ago(11))))[0]
    assert (row["residents"], row["pct_change"], row["ci_low"], row["ci_high"]) == (WITHHELD, "", "", "")

    supported_shown, comparator_nine = nine_compared
    page = client.get(reverse("kpis:dashboard"), month_of(months_ago(12))).text
    assert signed_pct(supported_shown.pct_change) in page
    assert signed_pct(comparator_nine.pct_change) not in page and "(n 9)" not in page
    assert f"Comparator: {WITHHELD}" in page and f"Difference: {WITHHELD} in a cohort" in page
    assert chart_data(page)[1]["cohorts"][1]["values"] == [None]
    row = rows_of(client.get(reverse("kpis:export"), month_of(months_ago(12))))[0]
    assert row["comparator_pct_change"] == WITHHELD


def test_feedback_from_fewer_than_ten_residents_shows_no_mean_and_no_scores(client, lead, own_team):
    for index in range(9):
        before_and_after(supported(own_team, feedback=1 + index % 5), 5, 3)
    kpis_recompute()
    client.force_login(lead)
    page = client.get(reverse("kpis:dashboard")).text
    assert "Mean score at step-down from" not in page and "out of 5</th>" not in page
    assert "Feedback scores given at step-down: <strong class=\"nhsuk-tag nhsuk-tag--grey\">fewer than 10 residents" in page
    before_and_after(supported(own_team, feedback=5), 5, 3)
    kpis_recompute()
    page = client.get(reverse("kpis:dashboard")).text
    assert "Mean score at step-down from 10 residents" in page and "5 out of 5</th>" in page


def process_cells(page: str) -> list[str]:
    """The cells of the team's row in the process table."""
    table = page.split("Process measures by team</caption>", 1)[1].split("</table>", 1)[0]
    team_row = table.split("Own INT</th>", 1)[1].split("</tr>", 1)[0]
    return re.findall(r"<td[^>]*>(.*?)</td>", team_row, re.DOTALL)


def test_process_measures_about_few_residents_are_withheld_and_those_about_actions_are_not(client, lead, own_team):
    for _ in range(3):
        not_supported(own_team, referred=TODAY - datetime.timedelta(days=14), status=Resident.Status.REFERRED)
    supported(own_team, start=TODAY - datetime.timedelta(days=20))  # one active resident
    kpis_recompute()
    client.force_login(lead)
    referrals, _days, caseload, _on_time, overdue, *_rest = process_cells(client.get(reverse("kpis:dashboard")).text)
    assert WITHHELD in referrals and "(n" not in referrals  # four residents referred
    assert WITHHELD in caseload and "(n" not in caseload  # one active resident
    assert WITHHELD not in overdue and overdue == "0"  # actions, not residents

    for _ in range(6):
        not_supported(own_team, referred=TODAY - datetime.timedelta(days=14), status=Resident.Status.REFERRED)
    kpis_recompute()
    referrals, *_rest = process_cells(client.get(reverse("kpis:dashboard")).text)
    assert WITHHELD not in referrals and "(n 10)" in referrals


def test_the_methods_page_says_small_figures_are_withheld_everywhere(client, own_team):
    client.force_login(member(own_team, Role.GP))
    page = client.get(reverse("kpis:methods")).text
    assert "no count of residents or contacts, no percentage and no interval" in page
    assert f'only the words <strong class="nhsuk-tag nhsuk-tag--grey">{WITHHELD}</strong>' in page
    assert "the CSV download alike, for the supported residents and for the comparator" in page
    assert "difference between the two is shown only when both have at least 10 residents" in page


def test_raising_the_minimum_withholds_figures_the_cache_had_shown(client, lead, lone_month, settings):
    client.force_login(lead)
    assert "12 residents: 60 before, 36 after" in client.get(reverse("kpis:dashboard"), month_of(COMPLETE_START)).text
    settings.KPI_MIN_RESIDENTS = 20
    page = client.get(reverse("kpis:dashboard"), month_of(COMPLETE_START)).text
    assert "12 residents: 60 before, 36 after" not in page and "fewer than 20 residents" in page
