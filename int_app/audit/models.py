"""The audit trail an information-governance lead asks for.

Changes: every insert, update and delete of team data is copied into an event table by a
Postgres trigger (django-pghistory), so bulk updates and raw SQL are caught too; each event carries
the request's context (user, URL) from pghistory's middleware. Views: every opening of a
resident's page, and every export holding residents, writes a ResidentAccess row.

Both are append-only: a trigger (django-pgtrigger) refuses UPDATE and DELETE, so the application
cannot rewrite history even by mistake.
"""

import pghistory
import pgtrigger
from django.conf import settings
from django.db import models
from django.utils import timezone

from caseload.models import Goal, ImportJob, Intervention, PlannedIntervention, Resident
from int_app.teams.models import Membership, Team
from int_app.teams.roles import Right
from meetings.models import Action, AgendaItem, Attendance, Decision, Meeting, MeetingSeries, MinutesAddendum
from pressure.models import PressureReport


def audit_changes(model: type[models.Model], *, exclude: list[str] | None = None) -> None:
    # Fresh trackers for each model: pghistory binds a tracker to the model it tracks.
    pghistory.track(
        pghistory.InsertEvent(),
        pghistory.UpdateEvent(),
        pghistory.DeleteEvent(),
        exclude=exclude,
        app_label="audit",
        model_name=f"{model.__name__}Change",
        append_only=True,
        obj_field=pghistory.ObjForeignKey(related_name="audit_changes", db_constraint=False, on_delete=models.DO_NOTHING),
    )(model)


for tracked in (
    Goal,
    PlannedIntervention,
    Intervention,
    Meeting,
    MeetingSeries,
    AgendaItem,
    Attendance,
    Decision,
    Action,
    MinutesAddendum,
    PressureReport,
    Membership,
):
    audit_changes(tracked)
# When the team last had contact follows from the discussions and action updates audited in their
# own tables; copying it would add a resident row for every note typed in a meeting.
audit_changes(Resident, exclude=["last_contact_at"])
# An import is one audited event (file name, rows, checksum), not 850,000 row copies; where its
# file waits on disk is no part of the record.
audit_changes(ImportJob, exclude=["stored_as"])


class ResidentAccessQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> "ResidentAccessQuerySet":
        """Who opened a record is the team's business: its members, or with `right` those whose
        role in the resident's team carries it."""
        return self.filter(resident__team__in=Team.objects.visible_to(user, right))

    def for_resident(self, resident_id: int) -> "ResidentAccessQuerySet":
        return self.filter(resident_id=resident_id).select_related("user").order_by("-at")


class ResidentAccess(models.Model):
    """Someone opened a resident's record, or exported a list holding it."""

    class Page(models.TextChoices):
        RESIDENT = "resident", "Resident page"
        EXPORT = "export", "Export"
        INFORMATION_PACK = "information_pack", "Agenda information pack"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    resident = models.ForeignKey(
        Resident, on_delete=models.DO_NOTHING, db_constraint=False, related_name="accesses"
    )
    page = models.CharField(max_length=30, choices=Page.choices)
    path = models.CharField(max_length=300)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    request_id = models.CharField(max_length=64, blank=True)

    objects = ResidentAccessQuerySet.as_manager()

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["resident", "at"], name="resident_access_when")]
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} opened resident {self.resident_id} ({self.page}) at {self.at:%Y-%m-%d %H:%M}"
