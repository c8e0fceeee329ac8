"""The dashboard, the export and the methods page, as the PCN lead and the coordinator use them."""

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from caseload.models import ServiceUseEvent
from int_app.teams.models import Membership, Team
from int_app.teams.roles import Role
from kpis.compute import kpis_recompute
from kpis.dashboard import spreadsheet_safe

from ..conftest import member
from .kpi_builders import COMPLETE_START, before_and_after, months_ago, not_supported, supported

SERVICE_USE_TABLE = ServiceUseEvent._meta.db_table


@pytest.fixture
def lead(own_team):
    return member(own_team, Role.PCN_LEAD)


@pytest.fixture
def figures(own_team, other_team):
    """Twelve supported residents in our team and ten comparator residents (enough to show), three
    supported in the other team (too few)."""
    for index in range(12):
        before_and_after(supported(own_team, feedback=5 if index % 2 else 4), 5, 3)
    for _ in range(3):
        before_and_after(supported(other_team), 9, 9)
    for _ in range(10):
        before_and_after(not_supported(own_team), 5, 4)
    return kpis_recompute()


def rows_of(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_the_pcn_lead_sees_their_teams_headlines_with_interval_n_and_comparator(client, lead, figures):
    client.force_login(lead)
    response = client.get(reverse("kpis:dashboard"))
    assert response.status_code == 200
    page = response.text
    # 60 before, 36 after: −40 %. The comparator: 50 before, 40 after, −20 %.
    assert "A&amp;E attendances" in page and "\u221240.0%" in page
    assert "Comparator: \u221220.0%" in page
    assert "95% interval" in page and "12 residents: 60 before, 36 after" in page
    assert "Own INT" in page
    assert "Other INT" not in page
    assert "As of" in page and "residents still in progress" in page


def test_the_dashboard_never_reads_service_use_and_its_queries_do_not_grow_with_residents(client, lead, figures, own_team):
    client.force_login(lead)
    client.get("/")  # the session's first renewal is not the dashboard's doing
    with CaptureQueriesContext(connection) as first:
        client.get(reverse("kpis:dashboard"))
    for _ in range(10):
        before_and_after(supported(own_team, start=months_ago(10)), 3, 1)
    first_queries = [q["sql"] for q in first.captured_queries]  # now: the next request empties the log
    kpis_recompute()
    client.get("/")  # after the writes the person is read again once (keyed on the data version), as before the first count
    with CaptureQueriesContext(connection) as second:
        client.get(reverse("kpis:dashboard"))
    second_queries = [q["sql"] for q in second.captured_queries]
    for queries in (first_queries, second_queries):
        assert not [sql for sql in queries if SERVICE_USE_TABLE in sql]
        assert not [sql for sql in queries if "caseload_resident" in sql]
    assert len(second_queries) == len(first_queries)


def test_a_pcn_lead_sees_no_resident(client, lead, figures, own_team):
    client.force_login(lead)
    page = client.get(reverse("kpis:dashboard")).text
    for resident in own_team.residents.all():
        assert resident.family_name not in page and resident.nhs_number not in page


def test_the_lead_of_one_team_does_not_see_the_place_which_holds_another_team(client, lead, figures):
    client.force_login(lead)
    levels = {row["level"] for row in rows_of(client.get(reverse("kpis:export")))}
    assert levels == {"team", "pcn", "neighbourhood"}


def test_a_lead_of_every_team_in_the_place_sees_the_place_and_both_teams(client, lead, figures, other_team):
    Membership.objects.create(user=lead, team=other_team, role=Role.PCN_LEAD, organisation=lead.memberships.get().organisation)
    client.force_login(lead)
    rows = rows_of(client.get(reverse("kpis:export")))
    units = {(row["level"], row["unit"]) for row in rows}
    assert ("place", "Birmingham") in units and ("team", "Own INT") in units and ("team", "Other INT") in units
    place = next(row for row in rows if row["level"] == "place" and row["kind"] == "all")
    assert place["residents"] == "15"


def test_filtering_by_pcn_narrows_every_table_to_that_pcn(client, lead, figures, own_team):
    pcn = own_team.pcns.get()
    client.force_login(lead)
    rows = rows_of(client.get(reverse("kpis:export"), {"pcn": pcn.pk}))
    assert {(row["level"], row["unit"]) for row in rows} == {("pcn", f"{pcn.name} ({pcn.ods_code})")}
    page = client.get(reverse("kpis:dashboard"), {"pcn": pcn.pk}).text
    assert f"{pcn.name} ({pcn.ods_code})" in page


def test_a_unit_of_another_team_cannot_be_chosen(client, lead, figures, other_team):
    client.force_login(lead)
    response = client.get(reverse("kpis:dashboard"), {"team": other_team.pk})
    assert response.status_code == 200
    assert "Select a valid choice" in response.text
    assert {row["unit"] for row in rows_of(client.get(reverse("kpis:export"), {"team": other_team.pk}))} >= {"Own INT"}
    assert "Other INT" not in {row["unit"] for row in rows_of(client.get(reverse("kpis:export"), {"team": other_team.pk}))}


def test_months_of_start_add_up_only_the_residents_who_started_then(client, lead, figures, own_team):
    for _ in range(10):
        before_and_after(supported(own_team, start=months_ago(12)), 2, 0)
    kpis_recompute()
    client.force_login(lead)
    month = f"{months_ago(12):%Y-%m}"
    rows = rows_of(client.get(reverse("kpis:export"), {"team": own_team.pk, "start_from": month, "start_to": month}))
    team = next(row for row in rows if row["level"] == "team" and row["kind"] == "all")
    assert (team["residents"], team["baseline"], team["followup"], team["pct_change"]) == ("10", "20", "0", "-100.0")
    everything = rows_of(client.get(reverse("kpis:export"), {"team": own_team.pk, "start_from": f"{COMPLETE_START:%Y-%m}"}))
    assert next(row for row in everything if row["level"] == "team" and row["kind"] == "all")["residents"] == "12"


def test_htmx_gets_just_the_figures_and_the_form_keeps_the_url_shareable(client, lead, figures, own_team):
    client.force_login(lead)
    page = client.get(reverse("kpis:dashboard")).text
    assert 'hx-push-url="true"' in page and 'hx-target="#kpi-figures"' in page and 'method="get"' in page
    partial = client.get(reverse("kpis:dashboard"), {"team": own_team.pk}, headers={"HX-Request": "true"})
    assert partial.status_code == 200
    assert partial.text.lstrip().startswith('<div id="kpi-figures"')
    assert "<html" not in partial.text and 'id="kpi-trend-data"' in partial.text


def test_the_page_has_no_inline_script_or_style(client, lead, figures):
    client.force_login(lead)
    page = client.get(reverse("kpis:dashboard")).text
    assert " style=" not in page and "<style" not in page
    scripts = [chunk.split(">", 1)[0] for chunk in page.split("<script")[1:]]
    for opening in scripts:
        assert "src=" in opening or 'type="application/json"' in opening, opening


def test_the_chart_data_and_the_table_beside_it_say_the_same(client, lead, figures):
    client.force_login(lead)
    response = client.get(reverse("kpis:dashboard"))
    chart = response.context["figures"].chart_data
    month = f"{COMPLETE_START:%b %Y}"
    assert chart["months"] == [month]
    assert chart["cohorts"][0]["values"] == [-40.0]
    assert chart["cohorts"][1]["values"] == [-20.0]
    assert "\u221240.0%" in response.text and "\u221220.0%" in response.text


def test_without_a_population_extract_the_effect_and_the_projection_cannot_be_judged_yet(client, lead, figures):
    client.force_login(lead)
    # The before/after fall is there, labelled as such; the projection uses only the matched
    # effect (tests/kpis/test_kpi_matched_dashboard.py), which needs an extract.
    page = client.get(reverse("kpis:dashboard"), {"residents": 40000}).text
    assert "The effect cannot be judged yet" in page
    assert "Before/after change (not allowing for what would have happened anyway):" in page
    assert "would prevent about" not in page and "Ambition met" not in page
    assert "the projection needs the population extract" in page


def test_before_the_first_run_the_page_says_there_are_no_figures_yet(client, lead):
    client.force_login(lead)
    response = client.get(reverse("kpis:dashboard"))
    assert "No figures yet" in response.text
    assert rows_of(client.get(reverse("kpis:export"))) == []


def test_the_coordinator_sees_their_own_team_and_others_in_the_team_may_not(client, own_team, figures):
    client.force_login(member(own_team, Role.COORDINATOR))
    assert client.get(reverse("kpis:dashboard")).status_code == 200
    client.force_login(member(own_team, Role.GP))
    assert client.get(reverse("kpis:dashboard")).status_code == 403
    assert client.get(reverse("kpis:export")).status_code == 403


def test_the_export_has_exactly_the_agreed_columns_and_one_row_per_level_unit_and_kind(client, lead, figures):
    client.force_login(lead)
    response = client.get(reverse("kpis:export"))
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    header = response.content.decode().splitlines()[0]
    assert header == (
        "level,unit,kind,residents,baseline,followup,pct_change,ci_low,ci_high,comparator_pct_change,"
        "matched_effect_pct,matched_ci_low,matched_ci_high,matched_comparisons"
    )
    rows = rows_of(response)
    keys = [(row["level"], row["unit"], row["kind"]) for row in rows]
    assert len(keys) == len(set(keys)) == 3 * 9  # team, PCN, neighbourhood; all + 8 kinds
    team = next(row for row in rows if row["level"] == "team" and row["kind"] == "ae_attendance")
    assert (team["residents"], team["baseline"], team["followup"], team["pct_change"], team["comparator_pct_change"]) == (
        "12", "60", "36", "-40.0", "-20.0"
    )
    # Every resident went from 5 to 3: no spread between residents, so the interval is the point.
    assert float(team["ci_low"]) == -40.0 == float(team["ci_high"])


def test_the_export_neutralises_a_unit_name_a_spreadsheet_would_run_but_keeps_negative_numbers(client, lead, figures, own_team):
    Team.objects.filter(pk=own_team.pk).update(name="=HYPERLINK(\"http://evil\")")
    kpis_recompute()
    client.force_login(lead)
    body = client.get(reverse("kpis:export")).content.decode()
    assert "'=HYPERLINK" in body
    assert ",-40.0," in body and ",'-40.0," not in body
    assert spreadsheet_safe("-Minus PCN") == "'-Minus PCN" and spreadsheet_safe("@home") == "'@home"
    assert spreadsheet_safe("Yardley PCN") == "Yardley PCN"


def test_the_methods_page_is_for_everyone_signed_in_and_says_how_in_plain_words(client, own_team):
    client.force_login(member(own_team, Role.GP))
    page = client.get(reverse("kpis:methods")).text
    assert "6 months before the start date" in page
    assert "comparator" in page and "95% interval" in page and "fewer than 10 residents" in page
    assert "KPI dashboard</a>" not in page  # a GP cannot open it, so no link


def test_a_runs_figures_are_cached_and_a_new_run_shows_at_once(client, lead, figures, own_team):
    client.force_login(lead)
    client.get(reverse("kpis:dashboard"))
    with CaptureQueriesContext(connection) as again:
        page = client.get(reverse("kpis:dashboard")).text
    assert "12 residents: 60 before, 36 after" in page
    assert not [q for q in again.captured_queries if "kpis_kpivalue" in q["sql"]]
    before_and_after(supported(own_team), 5, 3)
    kpis_recompute()
    assert "13 residents: 65 before, 39 after" in client.get(reverse("kpis:dashboard")).text
