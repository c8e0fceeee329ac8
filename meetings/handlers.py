"""What the meetings layer tells the caseload below it. The caseload's "last contact" counts
case discussions and action updates, but the caseload must not read this app's tables, so each
one is written onto the resident as it happens (`Resident.objects.record_contact`)."""

from __future__ import annotations

import datetime as dt

from django.db.models.signals import post_save
from django.utils import timezone

from caseload.models import Resident

from .models import ActionUpdate, AgendaItem


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


def connect() -> None:
    post_save.connect(agenda_item_saved, sender=AgendaItem, dispatch_uid="meetings.discussion_is_a_contact")
    post_save.connect(action_update_saved, sender=ActionUpdate, dispatch_uid="meetings.action_update_is_a_contact")
