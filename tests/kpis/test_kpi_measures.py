"""Each measure on a handful of residents, with the expected number worked out here by hand."""

import datetime

import pytest
from django.utils import timezone

from caseload.models import Resident, ServiceUseEvent
from int_app.teams.models import PCN
from int_app.teams.roles import Role
from kpis.compute import kpis_recompute
from kpis.models import Cohort, KpiValue, Level, Measure
from kpis.statistics import ChangeSums, change_with_interval, difference_between, prevented_per_resident_per_year, project
from meetings.models import Action, AgendaItem, Attendance, Meeting, MeetingSeries

from ..conftest import member
from .kpi_builders import (
    COMPLETE_START,
    IN_PROGRESS_START,
    TODAY,
    WINDOW,
    before_and_after,
    contacts_on,
    figure,
    months_ago,
    not_supported,
    supported,
)

AE = ServiceUseEvent.Kind.AE_ATTENDANCE
PRIMARY_CARE = ServiceUseEvent.Kind.PRIMARY_CARE_APPOINTMENT


def three_supported_residents(team):
    """Baseline and follow-up A&E attendances (4, 2), (6, 3) and (2, 2): 12 before, 7 after."""
    for before, after in ((4, 2), (6, 3), (2, 2)):
        before_and_after(supported(team), before, after)


def test_the_change_is_all_follow_up_contacts_over_all_baseline_ones_with_a_resident_clustered_interval(own_team):
    three_supported_residents(own_team)
    run = kpis_recompute()

    ae = figure(run, own_team.pk, kind=AE)
    # R = 7 / 12, so the change is 100 × (7/12 − 1) = −41.67 %.
    assert (ae.n, ae.baseline, ae.followup) == (3, 12, 7)
    assert ae.pct_change == pytest.approx(-41.667, abs=0.001)
    # Residuals f − R·b: 2 − 4R = −1/3, 3 − 6R = −1/2, 2 − 2R = 5/6; their squares add to 19/18.
    # Var(R) = n/(n−1) × 19/18 / B² = 3/2 × 19/18 / 144 = 19/1728, so se = 0.10486.
    # On the log scale: exp(ln(7/12) ± 1.96 × 0.10486 / (7/12)) − 1 = −58.99 % and −17.03 %.
    assert (ae.baseline_sq, ae.followup_sq, ae.baseline_followup) == (16 + 36 + 4, 4 + 9 + 4, 8 + 18 + 4)
    assert ae.ci_low == pytest.approx(-58.99, abs=0.01)
    assert ae.ci_high == pytest.approx(-17.03, abs=0.01)
    assert ae.too_few  # 3 residents
    # No other kind of contact: "all" is the same, and primary care has nothing before.
    assert figure(run, own_team.pk).pct_change == pytest.approx(ae.pct_change)
    primary_care = figure(run, own_team.pk, kind=PRIMARY_CARE)
    assert (primary_care.n, primary_care.baseline, primary_care.pct_change, primary_care.ci_low) == (3, 0, None, None)


def test_all_kinds_together_counts_each_residents_contacts_of_every_kind(own_team):
    resident = supported(own_team)
    before_and_after(resident, 2, 1, kind=AE)
    before_and_after(resident, 3, 3, kind=PRIMARY_CARE)
    run = kpis_recompute()
    every_kind = figure(run, own_team.pk)
    # One resident with 5 before and 4 after: their squares are of the totals, not of each kind.
    assert (every_kind.baseline, every_kind.followup, every_kind.baseline_sq, every_kind.followup_sq) == (5, 4, 25, 16)
    assert every_kind.pct_change == pytest.approx(-20.0)
    assert every_kind.ci_low is None  # one resident: no spread to measure


def test_only_contacts_inside_the_window_count_and_its_edges_are_start_minus_w_up_to_start_plus_w(own_team):
    resident = supported(own_team)
    start = resident.intervention_start
    contacts_on(
        resident,
        start - WINDOW - datetime.timedelta(days=1),  # the day before the baseline: out
        start - WINDOW,  # the first day of the baseline: in
        start - datetime.timedelta(days=1),  # the last day of the baseline: in
        start,  # the start day belongs to the follow-up
        start + WINDOW - datetime.timedelta(days=1),  # the last day of the follow-up: in
        start + WINDOW,  # the first day after it: out
    )
    run = kpis_recompute()
    assert (figure(run, own_team.pk).baseline, figure(run, own_team.pk).followup) == (2, 2)


def test_a_resident_whose_follow_up_has_not_ended_is_left_out_and_counted_as_in_progress(own_team):
    three_supported_residents(own_team)
    before_and_after(supported(own_team, start=IN_PROGRESS_START), 10, 0)
    run = kpis_recompute()
    assert figure(run, own_team.pk).n == 3
    assert figure(run, own_team.pk).baseline == 12
    assert figure(run, own_team.pk, measure=Measure.IN_PROGRESS).n == 1


def test_the_comparator_is_residents_not_accepted_or_still_waiting_from_their_referral_date(own_team):
    three_supported_residents(own_team)
    before_and_after(not_supported(own_team, status=Resident.Status.NOT_ACCEPTED), 5, 4)
    before_and_after(not_supported(own_team, status=Resident.Status.REFERRED), 3, 3)
    before_and_after(not_supported(own_team, status=Resident.Status.ACCEPTED), 2, 1)
    run = kpis_recompute()

    comparator = figure(run, own_team.pk, cohort=Cohort.COMPARATOR)
    # 10 before, 8 after: −20 %, beside the supported residents' −41.67 %.
    assert (comparator.n, comparator.baseline, comparator.followup) == (3, 10, 8)
    assert comparator.pct_change == pytest.approx(-20.0)
    assert figure(run, own_team.pk).n == 3
    sums = lambda row: ChangeSums(row.n, row.baseline, row.followup, row.baseline_sq, row.followup_sq, row.baseline_followup)  # noqa: E731
    difference = difference_between(
        change_with_interval(sums(figure(run, own_team.pk)), min_residents=10),
        change_with_interval(sums(comparator), min_residents=10),
    )
    assert difference.points == pytest.approx(-41.667 + 20.0, abs=0.001)
    assert difference.ci_low < difference.points < difference.ci_high


def test_fewer_than_ten_residents_are_too_few_to_judge_and_ten_are_enough(own_team, other_team):
    for _ in range(9):
        before_and_after(supported(own_team), 2, 1)
    for _ in range(10):
        before_and_after(supported(other_team), 2, 1)
    run = kpis_recompute()
    assert figure(run, own_team.pk).too_few is True
    assert figure(run, other_team.pk).too_few is False
    assert figure(run, own_team.neighbourhood.place_id, level=Level.PLACE).n == 19


def test_every_level_adds_up_the_same_residents(own_team, other_team):
    three_supported_residents(own_team)
    second_pcn = PCN.objects.create(neighbourhood=own_team.neighbourhood, name="Second PCN", ods_code="U99999")
    practice = second_pcn.practices.create(name="Far Surgery", ods_code="F99999")
    before_and_after(supported(own_team, practice=practice), 8, 8)
    before_and_after(supported(other_team), 1, 1)
    run = kpis_recompute()

    own_pcn = own_team.pcns.exclude(pk=second_pcn.pk).get()
    assert figure(run, own_team.pk).baseline == 12 + 8
    assert figure(run, own_team.neighbourhood_id, level=Level.NEIGHBOURHOOD).baseline == 12 + 8
    assert figure(run, own_pcn.pk, level=Level.PCN).baseline == 12
    assert figure(run, second_pcn.pk, level=Level.PCN).baseline == 8
    assert figure(run, own_team.neighbourhood.place_id, level=Level.PLACE).baseline == 12 + 8 + 1
    assert figure(run, own_pcn.pk, level=Level.PCN).unit_label == f"{own_pcn.name} ({own_pcn.ods_code})"


def test_each_cohort_month_has_its_own_figures_and_all_months_adds_them_up(own_team):
    three_supported_residents(own_team)  # started COMPLETE_START
    earlier = months_ago(11, day=15)
    before_and_after(supported(own_team, start=earlier), 10, 5)
    run = kpis_recompute()
    assert figure(run, own_team.pk, period=COMPLETE_START).baseline == 12
    assert figure(run, own_team.pk, period=earlier.replace(day=1)).baseline == 10
    assert figure(run, own_team.pk).baseline == 22
    assert figure(run, own_team.pk, period=earlier.replace(day=1)).pct_change == pytest.approx(-50.0)


def test_feedback_is_the_mean_score_with_its_n_and_how_many_gave_each_score(own_team):
    for score in (5, 4, 4):
        supported(own_team, feedback=score)
    supported(own_team)  # stepped down without giving feedback
    run = kpis_recompute()
    mean = figure(run, own_team.pk, measure=Measure.FEEDBACK)
    assert mean.value == pytest.approx(13 / 3) and mean.n == 3 and mean.too_few
    scores = {row.kind: row.n for row in KpiValue.objects.filter(run=run, level=Level.TEAM, unit_id=own_team.pk, measure=Measure.FEEDBACK_SCORE, period=None)}
    assert scores == {"4": 2, "5": 1}


def test_contacts_prevented_a_year_and_the_city_projection():
    # The three residents above: baseline − follow-up = 2, 3 and 0 in six months, a mean of
    # 5/3, so 10/3 a year per resident; supporting 20,000 would prevent 66,667 contacts a year.
    sums = ChangeSums.of_residents([(4, 2), (6, 3), (2, 2)])
    prevented = prevented_per_resident_per_year(sums, window_months=6)
    assert prevented.per_resident == pytest.approx(10 / 3)
    # The mean's interval: sd of (2, 3, 0) is 1.528, se 0.882; 5/3 ± 1.96 × 0.882, doubled.
    assert (prevented.ci_low, prevented.ci_high) == (pytest.approx(-0.124, abs=0.001), pytest.approx(6.790, abs=0.001))
    projection = project(prevented, residents=20_000, city_contacts=850_000, ambition_percent=15)
    assert projection.prevented == pytest.approx(66_666.7, abs=0.1)
    assert projection.percent_of_city == pytest.approx(7.84, abs=0.01)
    assert projection.ambition_contacts == 127_500
    assert not projection.meets_ambition
    assert project(prevented, residents=40_000, city_contacts=850_000, ambition_percent=15).meets_ambition


# --- process measures ---------------------------------------------------------------------------


def days_ago(days: int) -> datetime.date:
    return TODAY - datetime.timedelta(days=days)


def held_meeting(team, day: datetime.date, *, gp_present: bool) -> Meeting:
    series = MeetingSeries.objects.get_or_create(
        team=team, name="Case review", defaults={"purpose": "case_review", "weekday": day.weekday(), "start_time": datetime.time(13)}
    )[0]
    meeting = Meeting.objects.create(
        series=series, team=team, slot_date=day, starts_at=series.starts_at_on(day), duration_minutes=90,
        status=Meeting.Status.HELD, agenda_published_at=series.starts_at_on(day) - datetime.timedelta(days=2),
    )
    Attendance.objects.create(
        meeting=meeting, user=member(team, Role.GP), role=Role.GP,
        status=Attendance.Status.PRESENT if gp_present else Attendance.Status.APOLOGIES,
    )
    return meeting


def discuss(meeting: Meeting, *residents: Resident) -> None:
    for position, resident in enumerate(residents, start=1):
        AgendaItem.objects.create(meeting=meeting, resident=resident, position=position, outcome=AgendaItem.Outcome.DISCUSSED)


def test_process_measures_over_the_last_twelve_weeks(own_team):
    coordinator = member(own_team, Role.COORDINATOR)
    # Referrals: six in the last twelve weeks (0.5 a week); one thirteen weeks ago does not count.
    referred = [not_supported(own_team, referred=days_ago(10 + 7 * week), status=Resident.Status.REFERRED) for week in range(6)]
    not_supported(own_team, referred=days_ago(7 * 13), status=Resident.Status.REFERRED)
    # First discussions 7, 15, 20 and 15 days after referral: the median is 15.
    first, second = held_meeting(own_team, days_ago(3), gp_present=True), held_meeting(own_team, days_ago(5), gp_present=False)
    for resident, days in zip(referred[:3], (7, 15, 20), strict=True):
        Resident.objects.filter(pk=resident.pk).update(referral_date=days_ago(3) - datetime.timedelta(days=days))
    discuss(first, *referred[:3])
    discuss(second, referred[3])
    Resident.objects.filter(pk=referred[3].pk).update(referral_date=days_ago(5) - datetime.timedelta(days=15))
    # Caseload: six active residents over the team's four key workers.
    active = [supported(own_team, start=days_ago(20), referral_date=days_ago(100)) for _ in range(6)]
    # Actions due in the period: three done on time, one done late, one still open (so overdue),
    # one cancelled (left out): 3 of 5 on time. An open one due long ago is overdue too.
    owner = member(own_team, Role.SOCIAL_WORKER)

    def action(due: datetime.date, status: str, done_on: datetime.date | None = None) -> None:
        Action.objects.create(
            resident=active[0], description="Call the resident", owner=owner, due_date=due, status=status,
            created_by=coordinator, cancel_reason="No longer needed" if status == Action.Status.CANCELLED else "",
            completed_at=timezone.make_aware(datetime.datetime.combine(done_on, datetime.time(10))) if done_on else None,
        )

    for _ in range(3):
        action(days_ago(20), Action.Status.DONE, done_on=days_ago(21))
    action(days_ago(20), Action.Status.DONE, done_on=days_ago(18))
    action(days_ago(20), Action.Status.OPEN)
    action(days_ago(20), Action.Status.CANCELLED)
    action(days_ago(200), Action.Status.IN_PROGRESS)

    run = kpis_recompute()

    def measure(name: str) -> KpiValue:
        return KpiValue.objects.get(run=run, level=Level.TEAM, unit_id=own_team.pk, measure=name)

    assert (measure(Measure.REFERRALS_PER_WEEK).value, measure(Measure.REFERRALS_PER_WEEK).n) == (0.5, 6)
    assert (measure(Measure.DAYS_TO_FIRST_DISCUSSION).value, measure(Measure.DAYS_TO_FIRST_DISCUSSION).n) == (15, 4)
    assert (measure(Measure.CASELOAD_PER_KEY_WORKER).value, measure(Measure.CASELOAD_PER_KEY_WORKER).n) == (1.5, 4)
    assert (measure(Measure.ACTIONS_ON_TIME).value, measure(Measure.ACTIONS_ON_TIME).n) == (60.0, 5)
    assert measure(Measure.OVERDUE_ACTIONS).value == 2
    # Two meetings held, a GP at one: 50 %; four residents discussed in two meetings: 2 each.
    assert (measure(Measure.GP_ATTENDANCE).value, measure(Measure.GP_ATTENDANCE).n) == (50.0, 2)
    assert measure(Measure.CASES_PER_MEETING).value == 2.0
    place = KpiValue.objects.get(run=run, level=Level.PLACE, unit_id=own_team.neighbourhood.place_id, measure=Measure.REFERRALS_PER_WEEK)
    assert place.n == 6


def test_a_team_with_no_meetings_has_no_attendance_figure_rather_than_zero(own_team):
    run = kpis_recompute()
    gp = KpiValue.objects.get(run=run, level=Level.TEAM, unit_id=own_team.pk, measure=Measure.GP_ATTENDANCE)
    assert (gp.value, gp.n) == (None, 0)
