"""The audit trail an information-governance lead asks for.

Changes: every insert, update and delete of team data is copied into an event table by a
Postgres trigger (django-pghistory), so bulk updates and raw SQL are caught too; each event carries
the request's context (user, URL) from pghistory's middleware. The tables are append-only: a
trigger (django-pgtrigger) refuses UPDATE and DELETE, so the application cannot rewrite history
even by mistake.

Who opened a resident's record is kept by the caseload (caseload.models.ResidentAccess), the layer
that owns residents; this app sits on top of every other and only watches them.
"""

import pghistory
from django.db import models

from caseload.models import Goal, ImportJob, Intervention, PlannedIntervention, PopulationExtract, Resident
from int_app.teams.models import Invitation, Membership
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
# Each invitation's moves (invited, resent, revoked, accepted: named in the event's context by
# int_app/teams/invitations.py). The token's salt and hash are the link's secret, not the record.
audit_changes(Invitation, exclude=["token_salt", "token_hash"])
# A population extract likewise: who uploaded which file (checksum) for which team, what it held,
# and when it became or stopped being current; its people and contacts are not copied.
audit_changes(PopulationExtract, exclude=["stored_as", "rows_checked"])
