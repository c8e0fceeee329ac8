"""A resident's journey as their page tells it: the caseload's own history and service use, and
what the layers above contribute (meetings: discussions with their decisions, and actions).

The caseload cannot import the apps above it (ADR 0007), so it asks them: `resident_journey` is
sent while the page is drawn, and each receiver (connected in its app's `ready()`) returns its
entries, each naming the partial template that draws it. The caseload never names their models,
relations or templates.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.dispatch import Signal
from django.utils import timezone

from int_app.teams.models import User

from .models import Resident

# Sent with `resident` and `user` (who is looking: receivers fetch through their models'
# visible_to). Each receiver returns a list of JourneyEntry, read in a fixed number of queries
# however long the journey: the resident page is one of the busiest.
resident_journey = Signal()

# Within one day, newest first: the higher the order, the higher on the page.
SERVICE_USE_ORDER = 0
JOURNEY_EVENT_ORDER = 1


@dataclass(frozen=True)
class JourneyEntry:
    day: datetime.date
    order: int
    template_name: str  # the partial that draws `item`; it sees `item` and nothing else of the app
    item: object
    is_service_use: bool = False


def journey_of(resident: Resident, *, user: User, recent_service_use: int) -> list[JourneyEntry]:
    """The whole journey newest first: the caseload's events, its most recent service use, and
    every entry a higher layer contributes."""
    entries = [
        JourneyEntry(timezone.localdate(event.occurred_at), JOURNEY_EVENT_ORDER, "caseload/journey/event.html", event)
        for event in resident.events.select_related("by")
    ]
    entries += [
        JourneyEntry(use.date, SERVICE_USE_ORDER, "caseload/journey/service_use.html", use, is_service_use=True)
        for use in resident.service_use.order_by("-date", "kind")[:recent_service_use]
    ]
    for _receiver, contributed in resident_journey.send(sender=Resident, resident=resident, user=user):
        entries += contributed
    return sorted(entries, key=lambda entry: (entry.day, entry.order), reverse=True)
