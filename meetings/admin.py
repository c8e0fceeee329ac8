from django.contrib import admin

from int_app.teams.admin import TeamScope, TeamScopedAdmin

from .models import Action, ActionUpdate, Meeting, MeetingSeries, MinutesAddendum


@admin.register(MeetingSeries)
class MeetingSeriesAdmin(TeamScopedAdmin):
    team_path = "team"
    list_display = ["name", "team", "purpose", "weekday", "start_time", "duration_minutes", "active"]
    list_filter = ["team", "purpose", "active"]
    list_select_related = ["team"]


@admin.register(Meeting)
class MeetingAdmin(TeamScopedAdmin):
    # Set-up only: the record of a meeting is kept through the meeting pages, so it is read-only here.
    team_path = "team"
    list_display = ["__str__", "team", "status", "agenda_published_at", "minutes_published_at"]
    list_filter = ["team", "status"]
    list_select_related = ["series", "team"]
    date_hierarchy = "starts_at"
    readonly_fields = [
        "series", "team", "slot_date", "agenda_published_at", "agenda_published_by", "agenda_emailed_at",
        "ended_at", "minutes_published_at", "minutes_published_by", "minutes_emailed_at", "version",
    ]


class ActionUpdateInline(TeamScope, admin.TabularInline):
    model = ActionUpdate
    team_path = "action__resident__team"
    extra = 0
    can_delete = False
    readonly_fields = ["author", "at", "from_status", "to_status", "comment"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Action)
class ActionAdmin(TeamScopedAdmin):
    team_path = "resident__team"
    list_display = ["__str__", "owner", "due_date", "status"]
    list_filter = ["status"]
    list_select_related = ["owner"]
    readonly_fields = ["resident", "agenda_item", "status", "version", "created_by", "created_at", "updated_at", "completed_at"]
    inlines = [ActionUpdateInline]


@admin.register(MinutesAddendum)
class MinutesAddendumAdmin(TeamScopedAdmin):
    team_path = "meeting__team"
    list_display = ["__str__", "author", "created_at"]
    list_select_related = ["meeting__series", "author"]
    readonly_fields = ["meeting", "text", "author", "created_at"]
