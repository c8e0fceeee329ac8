"""The board member's view: each headline leads with the change beyond what similar people not
supported did, with its interval and n, and shows the before/after change beside it."""

import csv
import io

import pytest
from django.urls import reverse

from caseload.models import add_months
from int_app.teams.roles import Role
from kpis.compute import kpis_recompute
from kpis.models import MatchedBalance

from ..conftest import member
from .matched_builders import AE, Person, load_world, nhs_numbers, start_month


@pytest.fixture
def lead(own_team):
    return member(own_team, Role.PCN_LEAD)


def matched_world(team, *, residents: int):
    """`residents` residents, each with 5 A&E attendances in the month before their start and 3 in
    the month after (−2); five people alike before who went from 5 to 4 (−1). So each resident's
    difference is −1 on a baseline of 5: −20 % beyond similar people, −40 % before/after."""
    practice = team.practices.order_by("pk").first()
    m0 = start_month(9)
    before, after = add_months(m0, -1), add_months(m0, 1)
    numbers = nhs_numbers(residents + 5)
    people = [Person(number, practice, 1950, "F", {(before, AE): 5, (after, AE): 3}) for number in numbers[:residents]]
    people += [Person(number, practice, 1950, "F", {(before, AE): 5, (after, AE): 4}) for number in numbers[residents:]]
    load_world(team, people, {index: m0 for index in range(residents)})
    return kpis_recompute()


def test_the_tile_leads_with_the_matched_effect_in_words_with_interval_and_n_and_the_before_after_beside_it(client, lead, own_team):
    matched_world(own_team, residents=12)
    client.force_login(lead)
    page = client.get(reverse("kpis:dashboard")).text
    tile = page[page.index("A&amp;E attendances</h3>"):]
    tile = tile[: tile.index("</div>")]
    assert "\u221220.0% beyond what similar people not supported did over the same months" in tile
    assert "12 residents matched (100.0% of those with a complete follow-up), 36 comparisons" in tile
    assert "95% interval" in tile
    # The before/after change comes after, labelled as such.
    assert tile.index("beyond what similar people") < tile.index("Before/after change")
    assert "Before/after change (not allowing for what would have happened anyway): \u221240.0%" in tile
    # The tables by kind and by unit carry it too.
    assert "Beyond similar people not supported (95% interval)" in page
    assert "\u221220.0% (\u221220.0% to \u221220.0%) <span class=\"app-kpi-n\">(n 12)</span>" in page


def test_the_projection_uses_the_matched_effect_and_the_residents_asked_for(client, lead, own_team):
    matched_world(own_team, residents=12)
    client.force_login(lead)
    # 1 contact prevented per resident in six months beyond the comparisons (not 2 before/after):
    # 2 a year; 40,000 residents prevent 80,000, short of 15 % of 850,000 (127,500).
    page = client.get(reverse("kpis:dashboard"), {"residents": 40000}).text
    assert "supporting 40,000 residents would prevent about <strong>80,000</strong>" in page
    assert "Ambition not met" in page
    default = client.get(reverse("kpis:dashboard"), {"residents": 70000}).text
    assert "supporting 70,000 residents would prevent about <strong>140,000</strong>" in default
    assert "Ambition met" in default


def test_fewer_than_ten_matched_residents_show_no_matched_figures(client, lead, own_team):
    matched_world(own_team, residents=9)
    client.force_login(lead)
    page = client.get(reverse("kpis:dashboard")).text
    assert "beyond what similar people not supported did" not in page
    assert "Change beyond similar people not supported: shown from 10 matched residents" in page
    rows = list(csv.DictReader(io.StringIO(client.get(reverse("kpis:export")).content.decode())))
    team = next(row for row in rows if row["level"] == "team" and row["kind"] == "ae_attendance")
    assert team["matched_effect_pct"] == "fewer than 10 residents"
    assert team["matched_ci_low"] == team["matched_ci_high"] == team["matched_comparisons"] == ""


def test_the_export_gains_the_matched_columns_after_the_existing_ones(client, lead, own_team):
    matched_world(own_team, residents=12)
    client.force_login(lead)
    body = client.get(reverse("kpis:export")).content.decode()
    assert body.splitlines()[0].endswith(",comparator_pct_change,matched_effect_pct,matched_ci_low,matched_ci_high,matched_comparisons")
    rows = list(csv.DictReader(io.StringIO(body)))
    team = next(row for row in rows if row["level"] == "team" and row["kind"] == "ae_attendance")
    assert (team["pct_change"], team["matched_effect_pct"], team["matched_comparisons"]) == ("-40.0", "-20.0", "36")
    # Every resident's difference is the same: no spread, so the interval is the point.
    assert float(team["matched_ci_low"]) == -20.0 == float(team["matched_ci_high"])


def test_the_methods_page_explains_the_matched_effect_and_shows_each_team_s_balance(client, lead, own_team):
    matched_world(own_team, residents=12)
    client.force_login(lead)
    page = client.get(reverse("kpis:methods")).text
    assert "beyond what similar people who were not supported did over the same months" in page
    assert "delta method" in page
    assert "Balance, by team" in page and "Contacts in the 6 months before the start" in page
    assert "12 of 12 (100.0%)" in page


def test_the_dashboard_flags_a_team_whose_matching_misses_the_balance_bar(client, lead, own_team):
    # The residents used A&E far more than anyone left to compare them with.
    practice = own_team.practices.order_by("pk").first()
    m0 = start_month(9)
    numbers = nhs_numbers(20)
    people = [Person(number, practice, 1950, "F", {(add_months(m0, -1), AE): 9}) for number in numbers[:12]]
    people += [Person(number, practice, 1950, "F", {(add_months(m0, -1), AE): 1 + index % 3}) for index, number in enumerate(numbers[12:])]
    load_world(own_team, people, {index: m0 for index in range(12)})
    run = kpis_recompute()
    after = MatchedBalance.objects.get(run=run, team=own_team, variable="baseline_emergency").smd_after
    assert after > 1
    client.force_login(lead)
    page = client.get(reverse("kpis:dashboard")).text
    assert "Matching not balanced" in page and "Own INT" in page[page.index("Matching not balanced"):]
