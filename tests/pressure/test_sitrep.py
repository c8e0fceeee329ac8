"""The weekly situation report: return rate, shares at each level, patients covered at amber or above
and activity per 1,000, for the place; practices named only to their own PCN's lead and team."""

import csv
import datetime
import io
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from int_app.teams.roles import Role
from pressure.models import PressureReport
from pressure.scales import Preset
from pressure.services import current_scale, pressure_scale_use_preset
from pressure.sitrep import MIN_PRACTICES_SHOWN, build_sitrep
from tests.factories import PCNFactory, PracticeFactory, UserFactory

from ..conftest import member

LONDON = ZoneInfo("Europe/London")
THIS_WEEK = datetime.date(2026, 3, 9)
THURSDAY = datetime.datetime(2026, 3, 12, 10, 0, tzinfo=LONDON)


@pytest.fixture(autouse=True)
def _on_a_thursday():
    with time_machine.travel(THURSDAY, tick=True):
        yield


@pytest.fixture
def lead(own_team):
    return member(own_team, Role.PCN_LEAD)


@pytest.fixture
def ours(own_team):
    """The own team's two practices: 8,000 and 4,000 patients."""
    first, second = own_team.practices.order_by("pk")
    for practice, size in ((first, 8_000), (second, 4_000)):
        practice.list_size = size
        practice.save(update_fields=["list_size"])
    return first, second


@pytest.fixture
def theirs(other_team):
    return list(other_team.practices.order_by("pk"))


def reported(practice, number, *, week=THIS_WEEK, **figures) -> PressureReport:
    """A report as the service saves it (the level kept as the current scale has it)."""
    level = current_scale().level(number)
    report = PressureReport(practice=practice, week_start=week, reported_by=UserFactory(), alerting=level.alerts, **figures)
    report.keep_level(level)
    report.save()
    return report


def more_practices_in_the_place(own_team, count: int) -> list:
    """Practices of the same place in a PCN that no team of ours covers."""
    from tests.factories import NeighbourhoodFactory

    neighbourhood = NeighbourhoodFactory(place=own_team.neighbourhood.place, name="Far neighbourhood")
    pcn = PCNFactory(neighbourhood=neighbourhood, name="Far PCN")
    return PracticeFactory.create_batch(count, pcn=pcn, list_size=5_000)


class TestTheFigures:
    def test_return_rate_shares_patients_covered_and_activity_for_the_own_pcn(self, own_team, lead, ours, coordinator):
        first, second = ours
        reported(first, 4, appointments_offered=120)  # hot: level 4 of 6, amber (OPEL 2)
        sitrep = build_sitrep(lead, week=THIS_WEEK, scale=current_scale())
        pcn = sitrep.places[0].own_pcns[0]
        figures = pcn.figures
        assert (figures.practices, figures.reported, figures.return_rate) == (2, 1, 50.0)
        assert [(count.level.label, count.count, count.share) for count in figures.levels if count.count] == [("hot", 1, 100.0)]
        assert [(count.opel, count.count) for count in figures.opels] == [(1, 0), (2, 1), (3, 0), (4, 0)]
        assert (figures.amber_or_above, figures.patients_at_amber_or_above) == (1, 8_000)
        assert figures.activity_per_1000 == 15.0
        assert [(named.practice, named.report is not None) for named in pcn.practices] == [(first, True), (second, False)]

    def test_a_practice_the_ods_has_closed_is_not_counted_as_not_returning(self, own_team, lead, ours):
        first, second = ours
        second.status = second.Status.CLOSED
        second.save(update_fields=["status"])
        reported(first, 2)
        figures = build_sitrep(lead, week=THIS_WEEK, scale=current_scale()).places[0].own_pcns[0].figures
        assert (figures.practices, figures.reported, figures.return_rate) == (1, 1, 100.0)

    def test_level_three_of_six_is_not_amber_and_a_missing_list_size_is_said(self, own_team, lead, ours):
        first, second = ours
        second.list_size = None
        second.save(update_fields=["list_size"])
        reported(first, 3)
        reported(second, 6, appointments_offered=50)
        figures = build_sitrep(lead, week=THIS_WEEK, scale=current_scale()).places[0].own_pcns[0].figures
        assert (figures.amber_or_above, figures.patients_at_amber_or_above, figures.amber_or_above_without_list_size) == (1, 0, 1)
        assert figures.activity_per_1000 is None, "the only appointments came from a practice without a list size"
        assert [(count.level.number, count.share) for count in figures.levels if count.count] == [(3, 50.0), (6, 50.0)]

    def test_reports_from_before_a_change_of_scale_count_by_their_opel_value(self, own_team, lead, ours):
        first, second = ours
        reported(first, 6)  # vaporising, OPEL 4
        pressure_scale_use_preset(preset=Preset.GPAS)
        reported(second, 4)  # black, OPEL 4
        figures = build_sitrep(lead, week=THIS_WEEK, scale=current_scale()).places[0].own_pcns[0].figures
        assert [(count.level.label if count.level else "earlier", count.count) for count in figures.levels] == [
            ("green", 0), ("amber", 0), ("red", 0), ("black", 1), ("earlier", 1)
        ]
        assert [(count.opel, count.count, count.share) for count in figures.opels][3] == (4, 2, 100.0)
        assert figures.patients_at_amber_or_above == 12_000

    def test_the_place_counts_every_practice_in_it_when_enough_lie_outside_the_own_pcns(self, own_team, lead, ours, theirs):
        far = more_practices_in_the_place(own_team, MIN_PRACTICES_SHOWN - len(theirs))
        reported(ours[0], 5)
        reported(theirs[0], 2)
        for practice in far[:3]:
            reported(practice, 4, appointments_offered=100)
        place = build_sitrep(lead, week=THIS_WEEK, scale=current_scale()).places[0]
        assert (place.practices, place.outside_own_pcns) == (2 + 2 + len(far), MIN_PRACTICES_SHOWN)
        figures = place.figures
        assert (figures.reported, figures.return_rate) == (5, round(100 * 5 / 12, 1))
        assert (figures.amber_or_above, figures.patients_at_amber_or_above) == (4, 8_000 + 3 * 5_000)
        assert figures.activity_per_1000 == 20.0  # 300 appointments for 15,000 patients
        assert [pcn.pcn.name for pcn in place.own_pcns] == ["Own PCN"]


class TestWhoSeesWhat:
    def test_the_lead_sees_their_practices_named_and_the_others_only_counted(self, client, own_team, lead, ours, theirs):
        more_practices_in_the_place(own_team, MIN_PRACTICES_SHOWN)
        reported(ours[0], 5)
        reported(theirs[0], 6, comment="Their comment")
        client.force_login(lead)
        page = client.get(reverse("pressure:sitrep")).text
        assert ours[0].name in page and ours[1].name in page
        assert all(practice.name not in page for practice in theirs)
        assert "Far PCN" not in page and "Other PCN" not in page and "Their comment" not in page
        assert "Birmingham: all 14 practices" in page and "Return rate" in page

    def test_the_other_teams_lead_sees_their_own_pcn_named_and_not_ours(self, client, other_team, ours, theirs):
        more_practices_in_the_place(other_team, MIN_PRACTICES_SHOWN)
        reported(ours[0], 5)
        client.force_login(member(other_team, Role.PCN_LEAD))
        page = client.get(reverse("pressure:sitrep")).text
        assert theirs[0].name in page and "Other PCN (your PCN)" in page
        assert ours[0].name not in page and "Own PCN" not in page

    def test_the_place_lead_sees_the_whole_place_counted_and_no_practice_named(self, client, own_team, ours, theirs):
        more_practices_in_the_place(own_team, MIN_PRACTICES_SHOWN)
        reported(ours[0], 5, comment="Our comment")
        reported(theirs[0], 6)
        place_lead = member(own_team, Role.PLACE_LEAD)
        client.force_login(place_lead)

        response = client.get(reverse("pressure:sitrep"))

        place = response.context["sitrep"].places[0]
        assert (place.practices, place.outside_own_pcns, place.own_pcns) == (14, 14, [])
        assert (place.figures.reported, place.figures.return_rate) == (2, round(100 * 2 / 14, 1))
        page = response.text
        assert "Birmingham: all 14 practices" in page
        assert all(practice.name not in page for practice in [*ours, *theirs]) and "Our comment" not in page
        # The place lead reads the report and nothing else of practice pressure or of cases.
        assert client.get(reverse("pressure:heatmap")).status_code == 403
        assert client.get(reverse("caseload:list", args=[own_team.slug])).status_code == 403
        assert reverse("pressure:sitrep") in client.get(reverse("home")).text

    def test_with_fewer_than_ten_practices_outside_the_own_pcns_the_place_is_withheld(self, client, lead, ours, theirs):
        reported(theirs[0], 6)
        client.force_login(lead)
        response = client.get(reverse("pressure:sitrep"))
        assert "The place's figures are not shown" in response.text
        place = response.context["sitrep"].places[0]
        assert place.figures is None and place.outside_own_pcns == 2
        assert place.own_pcns[0].figures.reported == 0, "the own PCN's figures are still shown"

    def test_the_csv_names_the_own_practices_only(self, client, own_team, lead, ours, theirs):
        more_practices_in_the_place(own_team, MIN_PRACTICES_SHOWN)
        reported(ours[0], 4, appointments_offered=120, clinical_staff_available=6)
        reported(theirs[0], 6)
        client.force_login(lead)
        response = client.get(reverse("pressure:sitrep_csv"))
        assert response["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(response.content.decode())))
        assert rows[0] == ["week", "area", "measure", "value"]
        named = f"{ours[0].name} ({ours[0].ods_code})"
        assert ["2026-03-09", named, "activity per 1,000 patients", "15.0"] in rows
        assert ["2026-03-09", "Birmingham", "return rate %", str(round(100 * 2 / 14, 1))] in rows
        assert not any(practice.name in cell for practice in theirs for row in rows for cell in row)

    def test_a_practice_manager_or_a_key_worker_is_refused(self, client, own_team):
        for role in (Role.PRACTICE_MANAGER, Role.SOCIAL_WORKER):
            client.force_login(member(own_team, role))
            assert client.get(reverse("pressure:sitrep")).status_code == 403
            assert client.get(reverse("pressure:sitrep_csv")).status_code == 403


class TestTheWeek:
    def test_an_earlier_week_is_chosen_by_any_day_of_it(self, client, lead, ours):
        last_week = THIS_WEEK - datetime.timedelta(weeks=1)
        reported(ours[0], 2, week=last_week)
        client.force_login(lead)
        response = client.get(reverse("pressure:sitrep"), {"week": "2026-03-04"})
        assert response.context["sitrep"].week == last_week
        assert "Week starting Monday 2 March 2026" in response.text

    @pytest.mark.parametrize(
        "week, message", [("2026-13-45", "Enter a valid date"), ("2027-01-04", "cannot be in the future"), ("1999-12-31", "on or after")]
    )
    def test_a_wrong_week_is_said_and_this_week_shown(self, client, lead, week, message):
        client.force_login(lead)
        response = client.get(reverse("pressure:sitrep"), {"week": week})
        assert response.status_code == 200 and "There is a problem" in response.text and message in response.text
        assert response.context["sitrep"].week == THIS_WEEK


def test_the_sitrep_reads_in_a_fixed_number_of_queries(client, own_team, lead, ours):
    client.force_login(lead)
    url = reverse("pressure:sitrep")
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    few_queries = [query["sql"] for query in few.captured_queries]  # now: the next request empties the log
    for practice in more_practices_in_the_place(own_team, 15) + PracticeFactory.create_batch(5, pcn=own_team.pcns.get()):
        reported(practice, 4, appointments_offered=80)
    client.get(url)  # after the writes the person is read again once (keyed on the data version), as before the first count
    with CaptureQueriesContext(connection) as many:
        assert client.get(url).status_code == 200
    assert len(many) == len(few_queries)
    assert len(few_queries) <= 8, few_queries


def test_the_demo_shows_list_sizes_and_a_sitrep(client, db, settings):
    from django.core.management import call_command

    from int_app.teams.models import Practice

    settings.DEMO_MODE = True
    call_command("seed_demo")
    assert not Practice.objects.filter(list_size__isnull=True).exists()
    lead = (
        Practice.objects.first().pcn.neighbourhood.team.memberships.filter(role=Role.PCN_LEAD).select_related("user").first().user
    )
    client.force_login(lead)
    response = client.get(reverse("pressure:sitrep"))
    assert response.status_code == 200
    figures = response.context["sitrep"].places[0].own_pcns[0].figures
    assert figures.reported >= 1 and figures.activity_per_1000 is not None
