"""Access-matrix rows for every meetings URL, and the objects they need in the own team.

Case pages are for everyone in case discussions (a PCN lead or practice manager gets 403),
building and recording for the coordinator, sign-off for the GP; an action is changed by its
owner (here the social worker) or the coordinator. Every address about one team's object names
the team, so a member without the right gets 403 and another team's member 404. Written out
rather than read from the rights table, so that a change to the table shows here.
"""

from int_app.teams.roles import Role
from meetings.models import AgendaItem, CalendarFeed, Decision, OutcomeSummary

from ..access import WORLD_BUILDERS, Row, World, register
from .factories import active_resident, add_item, make_action, make_meeting

CASE = frozenset(
    {
        Role.COORDINATOR,
        Role.NEIGHBOURHOOD_EXPERT,
        Role.GP,
        Role.OCCUPATIONAL_THERAPIST,
        Role.SOCIAL_WORKER,
        Role.COMMUNITY_TRUST,
        Role.MENTAL_HEALTH_TRUST,
    }
)
BUILD = frozenset({Role.COORDINATOR})
SIGN = frozenset({Role.GP})
OWN = CASE
ACTION_CHANGERS = frozenset({Role.COORDINATOR, Role.SOCIAL_WORKER})  # the coordinator, and the action's owner
POST = ("POST",)
GET_POST = ("GET", "POST")
MISSING = 999_999


def build_meetings_world(world: World) -> None:
    resident = active_resident(world.own, given_name="Agnes", family_name="Matrix")
    meeting = make_meeting(world.own, days_ahead=3)
    item = add_item(meeting, resident)
    decision = Decision.objects.create(
        agenda_item=item, text="Medication review", is_clinical=True, recorded_by=world.member(world.own, Role.COORDINATOR)
    )
    AgendaItem.objects.filter(pk=item.pk).update(outcome=AgendaItem.Outcome.DISCUSSED)
    action = make_action(resident, owner=world.member(world.own, Role.SOCIAL_WORKER))
    # A summary kept as sent: its PDF stored, so the matrix does not draw one for every request.
    outcome_summary = OutcomeSummary.objects.create(
        meeting=meeting,
        agenda_item=item,
        resident=resident,
        practice=resident.practice,
        content={"resident": {"name": "Agnes Matrix"}},
        pdf=b"%PDF-1.4 kept",
        created_by=world.member(world.own, Role.COORDINATOR),
    )
    # Keys named for this feature, so that other features' builders cannot overwrite them.
    # The GP's private calendar address: public by its token, whoever (or no one) is signed in.
    calendar_feed = CalendarFeed.of(world.member(world.own, Role.GP))
    world.objects.update(
        meeting=meeting,
        agenda_item=item,
        decision=decision,
        action=action,
        meeting_series=meeting.series,
        outcome_summary=outcome_summary,
        calendar_feed=calendar_feed,
    )


WORLD_BUILDERS.append(build_meetings_world)


def meeting_url(suffix: str = ""):
    return lambda w: f"/meetings/teams/{w.own.slug}/{w.objects['meeting'].pk}/{suffix}"


def missing_meeting_url(suffix: str = ""):
    return lambda w: f"/meetings/teams/{w.own.slug}/{MISSING}/{suffix}"


def item_url(suffix: str):
    return lambda w: f"/meetings/teams/{w.own.slug}/items/{w.objects['agenda_item'].pk}/{suffix}"


def outcome_summary_url(suffix: str = ""):
    return lambda w: f"/meetings/teams/{w.own.slug}/outcome-summaries/{w.objects['outcome_summary'].pk}/{suffix}"


def action_url(suffix: str = ""):
    return lambda w: f"/meetings/teams/{w.own.slug}/actions/{w.objects['action'].pk}/{suffix}"


register(
    # Pages about the user's own work across their teams: another team's member is treated the same.
    Row("meetings:meeting_list", lambda w: "/meetings/", roles=CASE, other_team="same"),
    Row("meetings:my_actions", lambda w: "/meetings/actions/", roles=OWN, other_team="same"),
    Row("meetings:decisions_awaiting", lambda w: "/meetings/decisions/awaiting/", roles=SIGN, other_team="same"),
    # One's own calendar address, and getting a new one; the feed itself answers to its token alone
    # (calendar apps send no session), so everyone, signed in or not, gets the GP's feed, and an
    # unknown token is not found.
    Row("meetings:calendar", lambda w: "/meetings/calendar/", roles=CASE, other_team="same"),
    Row("meetings:calendar_reset", lambda w: "/meetings/calendar/reset/", roles=CASE, other_team="same", methods=POST),
    Row(
        "meetings:calendar_feed",
        lambda w: f"/meetings/calendar/{w.objects['calendar_feed'].token}.ics",
        public=True,
        other_team="same",
        get_ok=frozenset({200}),
        missing=lambda w: "/meetings/calendar/no-such-token.ics",
    ),
    # Series.
    Row("meetings:series_create", lambda w: f"/meetings/teams/{w.own.slug}/series/new/", roles=BUILD, methods=GET_POST, missing=lambda w: "/meetings/teams/no-such-team/series/new/"),
    Row("meetings:series_edit", lambda w: f"/meetings/teams/{w.own.slug}/series/{w.objects['meeting_series'].pk}/", roles=BUILD, methods=GET_POST, missing=lambda w: f"/meetings/teams/{w.own.slug}/series/{MISSING}/"),
    # One meeting.
    Row("meetings:meeting", meeting_url(), roles=CASE, missing=missing_meeting_url()),
    Row("meetings:meeting_cancel", meeting_url("cancel/"), roles=BUILD, methods=GET_POST, missing=missing_meeting_url("cancel/")),
    Row("meetings:meeting_move", meeting_url("move/"), roles=BUILD, methods=GET_POST, missing=missing_meeting_url("move/")),
    Row("meetings:meeting_end", meeting_url("end/"), roles=BUILD, methods=POST, missing=missing_meeting_url("end/")),
    Row("meetings:agenda", meeting_url("agenda/"), roles=BUILD, missing=missing_meeting_url("agenda/")),
    Row("meetings:agenda_add", meeting_url("agenda/add/"), roles=BUILD, methods=POST, missing=missing_meeting_url("agenda/add/")),
    Row("meetings:agenda_remove", meeting_url("agenda/remove/"), roles=BUILD, methods=POST, missing=missing_meeting_url("agenda/remove/")),
    Row("meetings:agenda_reorder", meeting_url("agenda/order/"), roles=BUILD, methods=POST, missing=missing_meeting_url("agenda/order/")),
    Row("meetings:agenda_publish", meeting_url("agenda/publish/"), roles=BUILD, methods=GET_POST, missing=missing_meeting_url("agenda/publish/")),
    Row("meetings:agenda_print", meeting_url("agenda/print/"), roles=CASE, missing=missing_meeting_url("agenda/print/")),
    Row("meetings:attendance", meeting_url("attendance/"), roles=BUILD, methods=POST, missing=missing_meeting_url("attendance/")),
    Row("meetings:minutes", meeting_url("minutes/"), roles=CASE, missing=missing_meeting_url("minutes/")),
    Row("meetings:minutes_publish", meeting_url("minutes/publish/"), roles=BUILD, methods=POST, missing=missing_meeting_url("minutes/publish/")),
    Row("meetings:minutes_addendum", meeting_url("minutes/addendum/"), roles=BUILD, methods=GET_POST, missing=missing_meeting_url("minutes/addendum/")),
    # Agenda items, recorded by the coordinator.
    Row("meetings:item_update", item_url(""), roles=BUILD, methods=POST, missing=lambda w: f"/meetings/teams/{w.own.slug}/items/{MISSING}/"),
    Row("meetings:item_move", item_url("move/"), roles=BUILD, methods=POST),
    Row("meetings:item_notes", item_url("notes/"), roles=BUILD, methods=POST),
    Row("meetings:item_outcome", item_url("outcome/"), roles=BUILD, methods=POST),
    Row("meetings:item_timer", item_url("timer/"), roles=BUILD, methods=POST),
    Row("meetings:decision_add", item_url("decisions/"), roles=BUILD, methods=POST),
    Row("meetings:action_add", item_url("actions/"), roles=BUILD, methods=POST),
    # Outcome summaries to the GP practices: the coordinator's, who publishes and corrects the minutes.
    Row("meetings:outcome_summary", outcome_summary_url(), roles=BUILD, missing=lambda w: f"/meetings/teams/{w.own.slug}/outcome-summaries/{MISSING}/"),
    Row("meetings:outcome_summary_pdf", outcome_summary_url("pdf/"), roles=BUILD, missing=lambda w: f"/meetings/teams/{w.own.slug}/outcome-summaries/{MISSING}/pdf/"),
    Row("meetings:outcome_summary_send", outcome_summary_url("send/"), roles=BUILD, methods=POST),
    Row("meetings:outcome_summary_correct", outcome_summary_url("correct/"), roles=BUILD, methods=GET_POST, missing=lambda w: f"/meetings/teams/{w.own.slug}/outcome-summaries/{MISSING}/correct/"),
    # Decisions and actions.
    Row(
        "meetings:decision_sign",
        lambda w: f"/meetings/teams/{w.own.slug}/decisions/{w.objects['decision'].pk}/sign/",
        roles=SIGN,
        methods=POST,
        missing=lambda w: f"/meetings/teams/{w.own.slug}/decisions/{MISSING}/sign/",
    ),
    Row("meetings:action", action_url(), roles=CASE, missing=lambda w: f"/meetings/teams/{w.own.slug}/actions/{MISSING}/"),
    Row("meetings:action_status", action_url("status/"), roles=ACTION_CHANGERS, methods=POST),
    Row("meetings:action_edit", action_url("edit/"), roles=ACTION_CHANGERS, methods=GET_POST, missing=lambda w: f"/meetings/teams/{w.own.slug}/actions/{MISSING}/edit/"),
    # Handing on the action owner's (the social worker's) open actions: the coordinator's.
    Row(
        "meetings:reassign_actions",
        lambda w: f"/meetings/teams/{w.own.slug}/reassign/{w.objects['action'].owner_id}/",
        roles=BUILD,
        methods=GET_POST,
        missing=lambda w: f"/meetings/teams/{w.own.slug}/reassign/{MISSING}/",
    ),
)
