"""What the audit trail does when the caseload announces something about a resident's record (ADR
0008): its change history is part of a subject access bundle, and a retired record's personal
details are removed from the history too, or retention would not be real. Wired in
`AuditConfig.ready()`."""

from __future__ import annotations

import pgtrigger
from django.apps import apps
from django.db import models
from django.db.models import Case, Value, When

from caseload.models import Resident
from caseload.records import RETIRED_GIVEN_NAME, RecordSection, as_text, resident_retired, subject_access_gathered
from int_app.teams.models import User

# The history of each tracked model that holds something about one resident: how its rows reach
# the resident, and (for retirement) the personal details it copies and what replaces them.
# Interventions chosen for a plan hold no free text; attendance, meetings and minutes addenda are
# about the meeting, not one resident.
RESIDENT_HISTORY: dict[str, str] = {
    "ResidentChange": "pgh_obj_id",
    "GoalChange": "resident_id",
    "PlannedInterventionChange": "resident_id",
    "AgendaItemChange": "resident_id",
    "DecisionChange": "agenda_item__resident_id",
    "ActionChange": "resident_id",
}
UNTRACKED = {"pgh_id", "pgh_created_at", "pgh_label", "pgh_obj", "pgh_context", "search_name"}


def _history(name: str, resident: Resident) -> models.QuerySet:
    model = apps.get_model("audit", name)
    lookup = RESIDENT_HISTORY[name]
    if lookup.startswith("agenda_item__"):
        # The decision's history names its agenda item; the item's live row names the resident.
        items = apps.get_model("meetings", "AgendaItem").objects.filter(resident=resident).values("pk")
        return model.objects.filter(agenda_item_id__in=items)
    return model.objects.filter(**{lookup: resident.pk})


def history_section(sender, resident: Resident, **kwargs) -> list[RecordSection]:
    """Every change to the resident's record, plan, discussions, decisions and actions, with who
    made it (from the request's context) and the values it left."""
    rows: list[tuple] = []
    for name in RESIDENT_HISTORY:
        model = apps.get_model("audit", name)
        fields = [f for f in model._meta.concrete_fields if f.name not in UNTRACKED]
        for event in _history(name, resident).select_related("pgh_context").order_by("pgh_created_at", "pgh_id"):
            metadata = event.pgh_context.metadata if event.pgh_context_id else {}
            values = {f.verbose_name: as_text(getattr(event, f.attname)) for f in fields}
            rows.append((event.pgh_created_at, name, event.pgh_label, metadata.get("user"), metadata.get("url", ""), values))
    users = User.objects.in_bulk([user for *_, user, _url, _values in rows if user])
    table = [
        {
            "When": as_text(at),
            "What changed": name.removesuffix("Change"),
            "Change": label,
            "By": users[user].full_name if user in users else "",
            "Where": url,
            "Values": "; ".join(f"{key}: {value}" for key, value in values.items() if value != ""),
        }
        for at, name, label, user, url, values in sorted(rows, key=lambda row: row[0])
    ]
    return [RecordSection("history", "Change history", 70, table, note="Every change, as the audit trail recorded it.")]


def remove_personal_details_from_history(sender, resident: Resident, **kwargs) -> None:
    """The history's copies of the personal details go the way of the record's: the same values
    the retired record now holds. The append-only triggers are set aside for these updates only."""
    replacements: dict[str, dict] = {
        "ResidentChange": {
            "given_name": Value(RETIRED_GIVEN_NAME),
            "family_name": Value(resident.family_name),
            "nhs_number": Value(""),
            "date_of_birth": Value(None, output_field=models.DateField()),
            "referral_reason": Value(""),
            "referrer": Value(""),
            "not_accepted_detail": Value(""),
            "feedback_comment": Value(""),
            "restriction_reason": Case(When(restriction_reason="", then=Value("")), default=Value("Restricted before retirement")),
        },
        "GoalChange": {"text": Value("")},
        "AgendaItemChange": {"notes": Value("")},
        "DecisionChange": {"text": Value("")},
        "ActionChange": {
            "description": Value(""),
            "cancel_reason": Case(When(status="cancelled", then=Value("Removed at retirement")), default=Value("")),
        },
    }
    triggers = [f"audit.{name}:append_only" for name in replacements]
    with pgtrigger.ignore(*triggers):
        for name, changes in replacements.items():
            _history(name, resident).update(**changes)


def connect() -> None:
    subject_access_gathered.connect(history_section, dispatch_uid="audit.history_section")
    resident_retired.connect(remove_personal_details_from_history, dispatch_uid="audit.remove_personal_details")
