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
from int_app.celery import enqueue_on_commit
from int_app.teams.models import User
from int_app.teams.signals import user_deactivated

from .models import Action, ActionUpdate, AgendaItem

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


def connect() -> None:
    user_deactivated.connect(account_switched_off, dispatch_uid="meetings.actions_of_a_switched_off_account")
    resident_journey.connect(journey_entries, dispatch_uid="meetings.journey_entries")
    post_save.connect(agenda_item_saved, sender=AgendaItem, dispatch_uid="meetings.discussion_is_a_contact")
    post_save.connect(action_update_saved, sender=ActionUpdate, dispatch_uid="meetings.action_update_is_a_contact")
