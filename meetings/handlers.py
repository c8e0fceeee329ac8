"""What the meetings layer tells the caseload below it, which must not read this app's tables
(ADR 0007, 0008). The caseload's "last contact" counts case discussions and action updates, so each
one is written onto the resident as it happens (`Resident.objects.record_contact`). The resident's
page asks the layers above for their part of the journey (`caseload.journey.resident_journey`):
this app answers with the discussions, their decisions, and the actions."""

from __future__ import annotations

import datetime as dt

from django.db.models.signals import post_save
from django.utils import timezone

from caseload.journey import JourneyEntry, resident_journey
from caseload.models import Resident
from caseload.records import RecordSection, as_text, person, resident_retired, subject_access_gathered
from caseload.signals import resident_restricted
from int_app.celery import enqueue_on_commit
from int_app.teams.models import User
from int_app.teams.signals import user_deactivated

from .models import Action, ActionUpdate, AgendaItem, Decision, Meeting
from .services import agenda_item_remove

# On the same day, a discussion shows above the caseload's own events and an action above both.
DISCUSSION_ORDER = 2
ACTION_ORDER = 3


def discussion_moment(item: AgendaItem) -> dt.datetime:
    """A discussion happened at the meeting, even when its notes are typed up the day after;
    never later than now, for an item reached before the meeting's planned start."""
    return min(item.meeting.starts_at, timezone.now())


def agenda_item_saved(sender, instance: AgendaItem, **kwargs) -> None:
    if instance.outcome == AgendaItem.Outcome.DISCUSSED:
        Resident.objects.filter(pk=instance.resident_id).record_contact(at=discussion_moment(instance))


def action_update_saved(sender, instance: ActionUpdate, created: bool, **kwargs) -> None:
    if created:
        Resident.objects.filter(pk=instance.action.resident_id).record_contact(at=instance.at)


def journey_entries(sender, resident: Resident, user: User, **kwargs) -> list[JourneyEntry]:
    """Each case discussion of the resident with its decisions, and each action for them: four
    queries however many there are."""
    discussions = (
        AgendaItem.objects.visible_to(user)
        .filter(resident=resident, outcome=AgendaItem.Outcome.DISCUSSED)
        .select_related("meeting__series")
        .prefetch_related("decisions__signed_by")
    )
    actions = Action.objects.visible_to(user).filter(resident=resident).select_related("owner")
    return [
        *(
            JourneyEntry(timezone.localdate(item.meeting.starts_at), DISCUSSION_ORDER, "meetings/journey/discussion.html", item)
            for item in discussions
        ),
        *(JourneyEntry(timezone.localdate(action.created_at), ACTION_ORDER, "meetings/journey/action.html", action) for action in actions),
    ]


def account_switched_off(sender, user_id: int, **kwargs) -> None:
    """The teams layer switched an account off: the coordinators hear which actions to hand on."""
    from .tasks import send_reassign_notice

    enqueue_on_commit(send_reassign_notice, user_id)


def subject_access_sections(sender, resident: Resident, **kwargs) -> list[RecordSection]:
    """Everything this app holds about the resident, for a subject access bundle: every agenda item
    (discussed or not) with its notes, every decision, every action with its history."""
    items = (
        AgendaItem.objects.filter(resident=resident)
        .select_related("meeting__series", "presenter")
        .order_by("meeting__starts_at", "pk")
    )
    decisions = (
        Decision.objects.filter(agenda_item__resident=resident)
        .select_related("agenda_item__meeting__series", "recorded_by", "signed_by")
        .order_by("recorded_at", "pk")
    )
    actions = (
        Action.objects.filter(resident=resident)
        .select_related("owner", "created_by")
        .prefetch_related("updates__author")
        .order_by("created_at", "pk")
    )
    return [
        RecordSection(
            "discussions",
            "Case discussions",
            40,
            [
                {
                    "Meeting": str(item.meeting),
                    "Why on the agenda": item.get_reason_display(),
                    "Outcome": item.get_outcome_display(),
                    "Presenter": person(item.presenter),
                    "Notes": item.notes,
                }
                for item in items
            ],
        ),
        RecordSection(
            "decisions",
            "Decisions",
            41,
            [
                {
                    "Meeting": str(decision.agenda_item.meeting),
                    "Decision": decision.text,
                    "Clinical": as_text(decision.is_clinical),
                    "Recorded": as_text(decision.recorded_at),
                    "Recorded by": person(decision.recorded_by),
                    "Signed off by": person(decision.signed_by),
                    "Signed off": as_text(decision.signed_at),
                }
                for decision in decisions
            ],
        ),
        RecordSection(
            "actions",
            "Actions",
            42,
            [
                {
                    "Action": action.description,
                    "Owner": person(action.owner),
                    "Due": as_text(action.due_date),
                    "Status": action.get_status_display(),
                    "Cancelled because": action.cancel_reason,
                    "Created": as_text(action.created_at),
                    "History": "; ".join(
                        f"{as_text(u.at)} {person(u.author)}: {u.get_to_status_display()} {u.comment}".strip()
                        for u in action.updates.all()
                    ),
                }
                for action in actions
            ],
        ),
    ]


def remove_personal_details(sender, resident: Resident, **kwargs) -> None:
    """The retention period ended: the free text about the resident goes; that they were discussed,
    decided about and given actions (dates, owners, statuses) stays for the process measures."""
    AgendaItem.objects.filter(resident=resident).update(notes="")
    Decision.objects.filter(agenda_item__resident=resident).update(text="")
    actions = Action.objects.filter(resident=resident)
    actions.exclude(status=Action.Status.CANCELLED).update(description="", cancel_reason="")
    # A cancelled action keeps a reason (a constraint), just not the words it was given.
    actions.filter(status=Action.Status.CANCELLED).update(description="", cancel_reason="Removed at retirement")
    ActionUpdate.objects.filter(action__resident=resident).update(comment="")


def leave_agendas(sender, resident: Resident, **kwargs) -> None:
    """A restricted record leaves the agendas still being built; published and past ones are the
    record of what happened and stay as they are."""
    for item in AgendaItem.objects.filter(
        resident=resident, meeting__status=Meeting.Status.SCHEDULED, meeting__agenda_published_at__isnull=True
    ).select_related("meeting"):
        agenda_item_remove(item=item)


def connect() -> None:
    user_deactivated.connect(account_switched_off, dispatch_uid="meetings.actions_of_a_switched_off_account")
    subject_access_gathered.connect(subject_access_sections, dispatch_uid="meetings.subject_access_sections")
    resident_retired.connect(remove_personal_details, dispatch_uid="meetings.remove_personal_details")
    resident_restricted.connect(leave_agendas, dispatch_uid="meetings.leave_agendas")
    resident_journey.connect(journey_entries, dispatch_uid="meetings.journey_entries")
    post_save.connect(agenda_item_saved, sender=AgendaItem, dispatch_uid="meetings.discussion_is_a_contact")
    post_save.connect(action_update_saved, sender=ActionUpdate, dispatch_uid="meetings.action_update_is_a_contact")
