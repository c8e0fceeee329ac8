"""Staff admins search the change history of their own teams here (superusers all of it); nothing
can be changed or deleted. Who opened a record is in the caseload's admin."""

from django.apps import apps
from django.contrib import admin
from django.core.exceptions import ImproperlyConfigured

from caseload.models import Goal, ImportJob, Intervention, PlannedIntervention, PopulationExtract, Resident
from int_app.teams.admin import ReadOnlyAdmin
from int_app.teams.models import Invitation, Membership
from meetings.models import (
    Action,
    AgendaItem,
    Attendance,
    Decision,
    Meeting,
    MeetingSeries,
    MinutesAddendum,
)
from pressure.models import PressureReport

# How a change row reaches its team: through the copy of the team (or of the resident, meeting,
# practice) that the row holds, so that a row keeps the team it had when it was written. An import
# names its teams in a many-to-many table that the history does not copy, hence the live job.
CHANGE_TEAM_PATHS = {
    Resident: "team",
    Goal: "resident__team",
    PlannedIntervention: "resident__team",
    Intervention: "team",
    Meeting: "team",
    MeetingSeries: "team",
    AgendaItem: "meeting__team",
    Attendance: "meeting__team",
    Decision: "agenda_item__meeting__team",
    Action: "resident__team",
    MinutesAddendum: "meeting__team",
    PressureReport: "practice__pcn__neighbourhood__team",
    Membership: "team",
    Invitation: "team",
    ImportJob: "pgh_obj__teams",
    PopulationExtract: "team",
}


class ChangeAdmin(ReadOnlyAdmin):
    list_display = ["pgh_created_at", "pgh_label", "pgh_obj_id", "pgh_context_id"]
    list_filter = ["pgh_label"]
    search_fields = ["=pgh_obj_id", "pgh_context__metadata__user", "pgh_context__metadata__url"]
    date_hierarchy = "pgh_created_at"


for model in apps.get_app_config("audit").get_models():
    tracked = getattr(model, "pgh_tracked_model", None)
    if tracked is None:
        continue
    if tracked not in CHANGE_TEAM_PATHS:
        raise ImproperlyConfigured(f"Say in CHANGE_TEAM_PATHS how a {tracked.__name__} change reaches its team.")
    admin.site.register(model, type(f"{model.__name__}Admin", (ChangeAdmin,), {"team_path": CHANGE_TEAM_PATHS[tracked]}))
