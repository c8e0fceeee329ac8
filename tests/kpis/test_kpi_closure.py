"""Decision closure: do discussions end in a decision or an action, and does what was decided get
done? Each measure on hand-built meetings, the expected number worked out here by hand; then the
small-numbers rule and the dashboard as the PCN lead and the coordinator see it."""

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from caseload.models import Resident
from int_app.teams.roles import Role
from kpis.compute import kpis_recompute
from kpis.models import KpiValue, Level, Measure
from meetings.models import Action, AgendaItem, Decision, Meeting, MeetingSeries

from ..conftest import member
from .kpi_builders import TODAY, supported

WITHHELD = "fewer than 10 residents"
CLOSURE = (Measure.DISCUSSIONS_CLOSED, Measure.DECISIONS_DONE_ON_TIME, Measure.DAYS_TO_LAST_ACTION, Measure.CARRIED_FORWARD)


def days_ago(days: int) -> datetime.date:
    return TODAY - datetime.timedelta(days=days)


def at_ten(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(10)))


def meeting_on(team, day: datetime.date, status: str = Meeting.Status.HELD) -> Meeting:
    series = MeetingSeries.objects.get_or_create(
        team=team, name="Case review", defaults={"purpose": "case_review", "weekday": day.weekday(), "start_time": datetime.time(13)}
    )[0]
    return Meeting.objects.create(
        series=series, team=team, slot_date=day, starts_at=series.starts_at_on(day), duration_minutes=90, status=status,
        agenda_published_at=series.starts_at_on(day) - datetime.timedelta(days=2),
    )


def item(meeting: Meeting, resident: Resident, *, outcome: str = AgendaItem.Outcome.DISCUSSED, carried_from: AgendaItem | None = None) -> AgendaItem:
    return AgendaItem.objects.create(
        meeting=meeting, resident=resident, position=meeting.items.count() + 1, outcome=outcome, carried_from=carried_from
    )


def decide(on: AgendaItem) -> Decision:
    """Recorded at the meeting, on its day."""
    return Decision.objects.create(
        agenda_item=on, text="Refer to the falls service", recorded_by=member(on.meeting.team, Role.COORDINATOR),
        recorded_at=on.meeting.starts_at,
    )


def act(on: AgendaItem, *, due: datetime.date, done_on: datetime.date | None = None, cancelled: bool = False) -> Action:
    team = on.meeting.team
    status = Action.Status.CANCELLED if cancelled else Action.Status.DONE if done_on else Action.Status.OPEN
    return Action.objects.create(
        resident=on.resident, agenda_item=on, description="Call the resident", owner=member(team, Role.SOCIAL_WORKER),
        due_date=due, status=status, created_by=member(team, Role.COORDINATOR),
        cancel_reason="No longer needed" if cancelled else "", completed_at=at_ten(done_on) if done_on else None,
    )


def closure(run, team, name: str) -> KpiValue:
    return KpiValue.objects.get(run=run, level=Level.TEAM, unit_id=team.pk, measure=name)


def test_the_closure_measures_over_the_last_twelve_weeks(own_team):
    residents = [supported(own_team, start=days_ago(60)) for _ in range(12)]
    a, b = meeting_on(own_team, days_ago(3)), meeting_on(own_team, days_ago(10))
    c, long_ago = meeting_on(own_team, days_ago(20)), meeting_on(own_team, days_ago(100))

    # Discussed at a and b: six, of which four ended with a decision or an action.
    with_both, decision_only, action_only, _nothing = (item(a, r) for r in residents[:4])
    _nothing_either, decision_later = item(b, residents[4]), item(b, residents[5])
    item(a, residents[6], outcome=AgendaItem.Outcome.NOT_REACHED)  # not a discussion
    item(long_ago, residents[7])  # discussed before the twelve weeks, with nothing: not counted

    # D1: both its actions done by their due dates (one cancelled, left out); done 1 day after it.
    decide(with_both)
    act(with_both, due=days_ago(2), done_on=days_ago(2))
    act(with_both, due=days_ago(1), done_on=days_ago(3))
    act(with_both, due=days_ago(1), cancelled=True)
    # No action: not counted among the decisions.
    decide(decision_only)
    act(action_only, due=days_ago(1))
    # D2: its one action done a day late, 6 days after the decision.
    decide(decision_later)
    act(decision_later, due=days_ago(5), done_on=days_ago(4))
    # D3: an action still to fall due: not yet judged, and not all done.
    at_c = item(c, residents[8])
    decide(at_c)
    act(at_c, due=days_ago(15), done_on=days_ago(16))
    act(at_c, due=TODAY + datetime.timedelta(days=10))
    # D4: decided, due and done before the twelve weeks.
    before = item(long_ago, residents[9])
    decide(before)
    act(before, due=days_ago(95), done_on=days_ago(90))

    # One resident not reached three meetings running and brought back a third time (counted
    # once, where it went past twice, though it was carried again after); another brought back
    # twice only; a third went past twice before the twelve weeks.
    m1, m2, m3, m4, m5 = (meeting_on(own_team, days_ago(days)) for days in (40, 33, 26, 19, 12))
    first = item(m1, residents[10], outcome=AgendaItem.Outcome.NOT_REACHED)
    second = item(m2, residents[10], outcome=AgendaItem.Outcome.NOT_REACHED, carried_from=first)
    third = item(m3, residents[10], outcome=AgendaItem.Outcome.NOT_REACHED, carried_from=second)
    fourth = item(m4, residents[10], outcome=AgendaItem.Outcome.NOT_REACHED, carried_from=third)
    item(m5, residents[10], carried_from=fourth)
    twice = item(m2, residents[11], outcome=AgendaItem.Outcome.NOT_REACHED)
    twice = item(m3, residents[11], outcome=AgendaItem.Outcome.NOT_REACHED, carried_from=twice)
    item(m4, residents[11], carried_from=twice)
    old = [meeting_on(own_team, days_ago(days)) for days in (130, 123, 116, 109)]
    chain = None
    for meeting in old:
        chain = item(meeting, residents[9], outcome=AgendaItem.Outcome.NOT_REACHED, carried_from=chain)

    run = kpis_recompute()

    closed = closure(run, own_team, Measure.DISCUSSIONS_CLOSED)
    # Discussed in the twelve weeks: four at a, two at b, one at c, and the carried residents'
    # last two items (m5, m4): of these nine, with_both, decision_only, action_only,
    # decision_later and at_c ended with something.
    assert (closed.n, closed.residents) == (9, 9)
    assert closed.value == pytest.approx(100 * 5 / 9)
    on_time = closure(run, own_team, Measure.DECISIONS_DONE_ON_TIME)
    assert (on_time.value, on_time.n, on_time.residents) == (50.0, 2, 2)  # d1 yes, d2 late
    days = closure(run, own_team, Measure.DAYS_TO_LAST_ACTION)
    assert (days.value, days.n, days.residents) == (3.5, 2, 2)  # 1 and 6 days
    carried = closure(run, own_team, Measure.CARRIED_FORWARD)
    assert (carried.value, carried.n, carried.residents) == (1.0, 1, 1)
    assert all(closure(run, own_team, name).too_few for name in CLOSURE), "all about fewer than 10 residents"
    place = KpiValue.objects.get(
        run=run, level=Level.PLACE, unit_id=own_team.neighbourhood.place_id, measure=Measure.DISCUSSIONS_CLOSED
    )
    assert (place.n, place.residents) == (9, 9)


def test_a_team_with_no_meetings_has_empty_closure_figures_rather_than_zero(own_team):
    run = kpis_recompute()
    closed = closure(run, own_team, Measure.DISCUSSIONS_CLOSED)
    assert (closed.value, closed.n, closed.residents) == (None, 0, 0)
    assert closure(run, own_team, Measure.DAYS_TO_LAST_ACTION).value is None
    assert closure(run, own_team, Measure.CARRIED_FORWARD).value == 0


@pytest.fixture
def lead(own_team):
    return member(own_team, Role.PCN_LEAD)


def closure_cells(page: str, team: str = "Own INT") -> list[str]:
    table = page.split("Decision closure by team</caption>", 1)[1].split("</table>", 1)[0]
    row = table.split(f"{team}</th>", 1)[1].split("</tr>", 1)[0]
    return [re.sub(r"\s+", " ", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)]


def discussions(team, count: int, *, with_decision: int) -> None:
    """`count` residents discussed at a meeting last week, the first `with_decision` of them with
    a decision whose one action was done on time, two days after it."""
    meeting = Meeting.objects.filter(team=team, slot_date=days_ago(7)).first() or meeting_on(team, days_ago(7))
    for index in range(count):
        discussed = item(meeting, supported(team, start=days_ago(60)))
        if index < with_decision:
            decide(discussed)
            act(discussed, due=days_ago(4), done_on=days_ago(5))


def test_figures_about_fewer_than_ten_residents_are_withheld_and_ten_are_shown(client, lead, own_team):
    discussions(own_team, 9, with_decision=6)
    kpis_recompute()
    client.force_login(lead)
    cells = closure_cells(client.get(reverse("kpis:dashboard")).text)
    assert len(cells) == 4
    assert all(WITHHELD in cell and "(n" not in cell for cell in cells), cells

    discussions(own_team, 1, with_decision=0)
    run = kpis_recompute()
    page = client.get(reverse("kpis:dashboard")).text
    closed, on_time, days, carried = closure_cells(page)
    assert closed.startswith("60.0") and "(n 10)" in closed  # 6 of 10 discussions
    assert WITHHELD in on_time and WITHHELD in days, "six decisions, about six residents"
    assert WITHHELD in carried, "none carried: a count about fewer than 10 residents"
    assert not closure(run, own_team, Measure.DISCUSSIONS_CLOSED).too_few
    assert "Discussions ending with a decision or action (%)" in page
    assert "Items carried forward more than twice" in page


def test_the_coordinator_sees_the_closure_measures_of_their_team(client, own_team):
    discussions(own_team, 12, with_decision=12)
    kpis_recompute()
    client.force_login(member(own_team, Role.COORDINATOR))
    closed, on_time, days, _carried = closure_cells(client.get(reverse("kpis:dashboard")).text)
    assert closed.startswith("100.0") and "(n 12)" in closed
    assert on_time.startswith("100.0") and "(n 12)" in on_time
    assert days.startswith("2.0") and "(n 12)" in days


def test_another_teams_closure_is_not_shown(client, lead, own_team, other_team):
    discussions(other_team, 12, with_decision=12)
    kpis_recompute()
    client.force_login(lead)
    page = client.get(reverse("kpis:dashboard")).text
    table = page.split("Decision closure by team</caption>", 1)[1].split("</table>", 1)[0]
    assert "Other INT" not in table and "Own INT" in table


def test_the_methods_page_explains_the_closure_measures(client, own_team):
    client.force_login(member(own_team, Role.GP))
    page = client.get(reverse("kpis:methods")).text
    assert 'id="closure"' in page and "Items carried forward more than twice" in page
    assert "fewer than 10 different residents" in page
