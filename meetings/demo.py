"""Demo data for the meetings feature, seeded by `manage.py seed_demo` after the caseload.

For each demo team: the two default series; eight weeks of past meetings with attendance, notes,
decisions (clinical ones mostly signed off by the GP), actions in every state (some overdue) and
published minutes; the next four weeks scheduled, with draft agendas for the next meeting of each
series. Deterministic (a seeded generator, dates relative to today) and idempotent (a team that
already has meetings is left alone). Without caseload residents it makes the meetings only.
"""

from __future__ import annotations

import datetime as dt
import random

from django.utils import timezone

from caseload.models import Resident
from int_app.teams.models import Team, User
from int_app.teams.roles import Right, Role

from .models import (
    Action,
    ActionUpdate,
    AgendaItem,
    Attendance,
    Decision,
    Meeting,
    MeetingSeries,
    MinutesAddendum,
    OutcomeSummary,
)
from .outcome_summaries import outcome_summaries_create
from .services import (
    agenda_item_add,
    meetings_schedule_ahead,
    resident_contacts_refresh,
    roles_with,
    series_create_defaults,
)
from .suggestions import agenda_suggestions

SEED = 2026_04
DEMO_TEAM_SLUGS = ("east", "west")
WEEKS_BACK = 8

NOTES = (
    "Lives alone; daughter visits at weekends. Two falls at home since the last review.",
    "Medication now in a blister pack; taking it reliably. Still breathless on the stairs.",
    "Carer under strain; husband's dementia worse at night. Respite discussed with the family.",
    "Damp in the bedroom reported to the landlord twice; no response yet.",
    "Mood lower since the bereavement. Agreed to try the lunch club with a befriender.",
    "Fewer A&E attendances since the rescue pack; knows to call the community matron first.",
    "Benefits check done: attendance allowance claim submitted.",
    "Goals mostly met; resident keen to carry on with the walking group independently.",
)
DECISIONS = (
    ("Start a structured medication review with the practice pharmacist", True),
    ("Refer to the community falls prevention service", True),
    ("Increase the home care package to twice daily", False),
    ("Social prescriber to introduce the lunch club", False),
    ("Rescue pack for COPD exacerbations, with a written plan", True),
    ("Refer to the memory assessment service", True),
    ("Carer's assessment to be offered", False),
    ("Plan step-down at the next review if the goals hold", False),
)
ACTIONS = (
    "Home visit to assess for grab rails and a perching stool",
    "Chase the landlord about the damp, with a letter from the GP",
    "Book the medication review and tell the pharmacy",
    "Ring the daughter about respite options",
    "Introduce the befriending service and go to the first session",
    "Send the referral to the falls clinic",
    "Check the attendance allowance claim has been received",
    "Arrange a joint visit with the community matron",
)
CANCEL_REASONS = ("Resident moved to a care home", "Covered by the district nursing plan instead")


def seed_meetings(stdout) -> str:
    teams = list(Team.objects.filter(slug__in=DEMO_TEAM_SLUGS).order_by("slug"))
    # Decided before seeding any, so that one team's scheduling cannot hide another's turn.
    empty = [(number, team) for number, team in enumerate(teams) if not Meeting.objects.filter(team=team).exists()]
    made = [seed_team(team, random.Random(SEED + number), timezone.localdate()) for number, team in empty]
    if not made:
        return "Meetings: already loaded."
    return "Meetings: " + "; ".join(made) + "."


def seed_team(team: Team, rng: random.Random, today: dt.date) -> str:
    triage, review = series_create_defaults(team=team)
    people = {m.role: m.user for m in team.memberships.select_related("user")}
    owners = [people[role] for role in roles_with_owners(people)]
    residents = list(Resident.objects.filter(team=team).select_related("key_worker").order_by("pk"))
    past = 0
    actions: list[Action] = []
    held = sorted(((day, weeks_ago, series) for series in (triage, review) for weeks_ago, day in past_slots(series, today)), key=lambda slot: slot[0])
    for day, weeks_ago, series in held:
        meeting = past_meeting(series, day, people, rng)
        chosen = residents_for(series, day, residents, rng)
        for position, resident in enumerate(chosen, start=1):
            # The last review's first resident always has a clinical decision the GP has not signed
            # yet, so the demo shows one awaiting sign-off whatever day it is seeded.
            awaiting = weeks_ago == 1 and position == 1 and series.purpose == MeetingSeries.Purpose.CASE_REVIEW
            item = discuss(meeting, resident, position, people, rng, reached=awaiting or position < len(chosen) or rng.random() < 0.7, latest=weeks_ago == 1, awaiting=awaiting)
            if item.outcome == AgendaItem.Outcome.DISCUSSED and series.purpose == MeetingSeries.Purpose.CASE_REVIEW:
                actions.append(agree_action(item, owners, people, rng, today, overdue=awaiting))
        finish(meeting, people, weeks_ago)
        if weeks_ago <= 2:
            summaries_as_sent(meeting, people)
        past += 1
    scheduled = sum(meetings_schedule_ahead(today=today, series=series) for series in (triage, review))
    drafts = 0
    for series in (triage, review):
        upcoming = Meeting.objects.filter(series=series, status=Meeting.Status.SCHEDULED, starts_at__gt=timezone.now()).order_by("starts_at").first()
        if upcoming is not None and residents:
            drafts += draft_agenda(upcoming, people[Role.COORDINATOR])
    # The history above was written in bulk, past the handlers that keep "last contact".
    resident_contacts_refresh(residents=Resident.objects.filter(team=team))
    return f"{team.name}: {past} past meetings with minutes, {scheduled} scheduled, {drafts} draft agenda items, {len(actions)} actions"


def roles_with_owners(people: dict[str, User]) -> list[str]:
    # Key workers own most actions; the expert and the coordinator some.
    key = [Role.OCCUPATIONAL_THERAPIST, Role.SOCIAL_WORKER, Role.COMMUNITY_TRUST, Role.MENTAL_HEALTH_TRUST]
    return [role for role in key + [Role.NEIGHBOURHOOD_EXPERT, Role.COORDINATOR] if role in people]


def past_slots(series: MeetingSeries, today: dt.date) -> list[tuple[int, dt.date]]:
    """The series' last WEEKS_BACK meeting days before today, as (how many back, day): the most
    recent is at most a week ago whatever the weekday, and today's meeting is left to scheduling."""
    latest = today - dt.timedelta(days=(today.weekday() - series.weekday - 1) % 7 + 1)
    return [(back, latest - dt.timedelta(weeks=back - 1)) for back in range(WEEKS_BACK, 0, -1)]


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))


def past_meeting(series: MeetingSeries, day: dt.date, people: dict[str, User], rng: random.Random) -> Meeting:
    starts_at = series.starts_at_on(day)
    meeting = Meeting.objects.create(
        series=series,
        team=series.team,
        slot_date=day,
        starts_at=starts_at,
        duration_minutes=series.duration_minutes,
        location=series.location,
        video_link=series.video_link,
        agenda_published_at=starts_at - dt.timedelta(days=2, hours=rng.randint(0, 5)),
        agenda_published_by=people[Role.COORDINATOR],
        agenda_emailed_at=starts_at - dt.timedelta(days=2),
    )
    rows = []
    for role in roles_with_view_cases(people):
        status, deputy = Attendance.Status.PRESENT, ""
        roll = rng.random()
        if role != Role.COORDINATOR and roll < 0.1:
            status = Attendance.Status.APOLOGIES
        elif role != Role.COORDINATOR and roll < 0.16:
            status, deputy = Attendance.Status.DEPUTY, rng.choice(("Jo Bennett", "Sam Okafor", "Ravi Sandhu"))
        rows.append(Attendance(meeting=meeting, user=people[role], role=role, status=status, deputy_name=deputy))
    Attendance.objects.bulk_create(rows)
    return meeting


def roles_with_view_cases(people: dict[str, User]) -> list[str]:
    return [role for role in roles_with(Right.VIEW_CASES) if role in people]


def residents_for(series: MeetingSeries, day: dt.date, residents: list[Resident], rng: random.Random) -> list[Resident]:
    if series.purpose == MeetingSeries.Purpose.TRIAGE:
        # Those whose triage date falls in that week were triaged at that meeting.
        triaged = [r for r in residents if r.triaged_on and abs((r.triaged_on - day).days) <= 3]
        return triaged[:4]
    active = [r for r in residents if r.intervention_start and r.intervention_start < day and r.status in (Resident.Status.ACTIVE, Resident.Status.STEPPED_DOWN)]
    return rng.sample(active, min(len(active), 5))


def discuss(
    meeting: Meeting, resident: Resident, position: int, people: dict[str, User], rng: random.Random,
    *, reached: bool, latest: bool = False, awaiting: bool = False,
) -> AgendaItem:
    item = AgendaItem.objects.create(
        meeting=meeting,
        resident=resident,
        position=position,
        minutes=5 if meeting.series.purpose == MeetingSeries.Purpose.TRIAGE else 10,
        presenter=resident.key_worker or people[Role.COORDINATOR],
        reason=AgendaItem.Reason.NEW_REFERRAL if meeting.series.purpose == MeetingSeries.Purpose.TRIAGE else AgendaItem.Reason.DUE_REVIEW,
        outcome=AgendaItem.Outcome.DISCUSSED if reached else AgendaItem.Outcome.NOT_REACHED,
    )
    if not reached:
        return item
    started = meeting.starts_at + dt.timedelta(minutes=(position - 1) * item.minutes)
    item.notes = rng.choice(NOTES)
    item.seconds_used = item.minutes * 60 + rng.randint(-180, 240)
    item.timer_stopped_at = started + dt.timedelta(seconds=item.seconds_used)
    item.save(update_fields=["notes", "seconds_used", "timer_stopped_at"])
    text, clinical = rng.choice([decision for decision in DECISIONS if decision[1]] if awaiting else DECISIONS)
    if meeting.series.purpose == MeetingSeries.Purpose.TRIAGE:
        text, clinical = ("Accepted; key worker allocated" if resident.key_worker_id else "Not accepted: needs met elsewhere"), False
    # The GP has signed the older meetings' clinical decisions and about half of the latest's.
    signed = clinical and not awaiting and (not latest or rng.random() < 0.5)
    Decision.objects.create(
        agenda_item=item,
        text=text,
        is_clinical=clinical,
        recorded_by=people[Role.COORDINATOR],
        recorded_at=started + dt.timedelta(minutes=4),
        signed_by=people[Role.GP] if signed else None,
        signed_at=meeting.starts_at + dt.timedelta(days=1, hours=2) if signed else None,
    )
    return item


def agree_action(
    item: AgendaItem, owners: list[User], people: dict[str, User], rng: random.Random, today: dt.date, *, overdue: bool = False,
) -> Action:
    meeting = item.meeting
    owner = item.resident.key_worker if item.resident.key_worker_id and rng.random() < 0.7 else rng.choice(owners)
    created = meeting.starts_at + dt.timedelta(minutes=30)
    due = meeting.date + dt.timedelta(days=rng.choice((7, 10, 14, 21, 28)))
    if overdue:  # one open action from the last review is always past its due date, whatever the day
        due = min(meeting.date + dt.timedelta(days=1), today - dt.timedelta(days=1))
    action = Action.objects.create(
        resident=item.resident,
        agenda_item=item,
        description=rng.choice(ACTIONS),
        owner=owner,
        due_date=due,
        created_by=people[Role.COORDINATOR],
        created_at=created,
        updated_at=created,
    )
    history = [ActionUpdate(action=action, author=people[Role.COORDINATOR], at=created, from_status="", to_status="open", comment="Agreed at the meeting.")]
    # Older actions are mostly finished; recent ones open or under way; some are left overdue.
    roll = rng.random()
    age_days = (today - meeting.date).days
    path: list[tuple[str, str]] = []
    if overdue:
        pass
    elif roll < 0.08:
        path = [(Action.Status.CANCELLED, rng.choice(CANCEL_REASONS))]
    elif age_days > 21 and roll < 0.8 or age_days <= 21 and roll < 0.3:
        path = [(Action.Status.IN_PROGRESS, "Started."), (Action.Status.DONE, "Done and fed back to the resident.")]
    elif roll < 0.9:
        path = [(Action.Status.IN_PROGRESS, "Waiting to hear back.")]
    status, when = Action.Status.OPEN, created
    for to, comment in path:
        when = min(when + dt.timedelta(days=rng.randint(1, 6)), timezone.now())
        history.append(ActionUpdate(action=action, author=owner, at=when, from_status=status, to_status=to, comment=comment))
        status = to
    ActionUpdate.objects.bulk_create(history)
    Action.objects.filter(pk=action.pk).update(
        status=status,
        cancel_reason=path[0][1] if status == Action.Status.CANCELLED else "",
        completed_at=when if status == Action.Status.DONE else None,
        updated_at=when,
        version=len(history),
    )
    return action


def finish(meeting: Meeting, people: dict[str, User], weeks_ago: int) -> None:
    ended = meeting.ends_at
    meeting.status = Meeting.Status.HELD
    meeting.ended_at = ended
    meeting.minutes_published_at = ended + dt.timedelta(hours=20)
    meeting.minutes_published_by = people[Role.COORDINATOR]
    meeting.minutes_emailed_at = meeting.minutes_published_at
    meeting.save()
    if weeks_ago == 3 and meeting.series.purpose == MeetingSeries.Purpose.CASE_REVIEW:
        MinutesAddendum.objects.create(
            meeting=meeting,
            text="Correction: the falls clinic referral goes to the community service, not the hospital clinic.",
            author=people[Role.COORDINATOR],
            created_at=meeting.minutes_published_at + dt.timedelta(days=1),
        )


def summaries_as_sent(meeting: Meeting, people: dict[str, User]) -> None:
    """The last two weeks' outcome summaries, as the worker left them: sent a few minutes after the
    minutes to each practice that has a shared mailbox, held back at the one that has none. Their
    PDFs are drawn when someone opens one."""
    summaries = outcome_summaries_create(meeting=meeting, by=people[Role.COORDINATOR], send=False)
    sent_at = meeting.minutes_published_at + dt.timedelta(minutes=3)
    for summary in summaries:
        summary.created_at = meeting.minutes_published_at
        mailbox = summary.practice.shared_mailbox
        summary.status = OutcomeSummary.Status.SENT if mailbox else OutcomeSummary.Status.NO_MAILBOX
        summary.sent_at = sent_at if mailbox else None
        summary.sent_to = mailbox
        summary.attempts = 1 if mailbox else 0
    OutcomeSummary.objects.bulk_update(summaries, ["created_at", "status", "sent_at", "sent_to", "attempts"])


def draft_agenda(meeting: Meeting, coordinator: User) -> int:
    """The coordinator's half-built agenda: suggestions taken heading by heading, one or two
    from each, until about two thirds of the meeting's time is planned."""
    budget = meeting.duration_minutes * 2 // 3
    added = 0
    for group in agenda_suggestions(meeting=meeting):
        for suggestion in group.suggestions[:2]:
            if (added + 1) * AgendaItem.DEFAULT_MINUTES > budget:
                return added
            agenda_item_add(meeting=meeting, resident=suggestion.resident, reason=suggestion.reason, by=coordinator)
            added += 1
    return added
