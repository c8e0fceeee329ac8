from django.urls import path

from . import views

app_name = "meetings"

# Pages about one team's meeting, item, decision or action carry the team in the address, as
# caseload's do: someone not in the team gets "not found", a member without the right
# "forbidden", and an object of another team under this team's address "not found". The pages
# about the person's own work across their teams carry no team.
urlpatterns = [
    path("", views.meeting_list, name="meeting_list"),
    path("actions/", views.my_actions, name="my_actions"),
    path("decisions/awaiting/", views.decisions_awaiting, name="decisions_awaiting"),
    path("calendar/", views.calendar_page, name="calendar"),
    path("calendar/reset/", views.calendar_reset, name="calendar_reset"),
    # Public: calendar apps send no session; the token is the key (views.calendar_feed).
    path("calendar/<str:token>.ics", views.calendar_feed, name="calendar_feed"),
    path("teams/<slug:slug>/series/new/", views.series_create, name="series_create"),
    path("teams/<slug:slug>/series/<int:pk>/", views.series_edit, name="series_edit"),
    path("teams/<slug:slug>/<int:pk>/", views.meeting_detail, name="meeting"),
    path("teams/<slug:slug>/<int:pk>/cancel/", views.meeting_cancel, name="meeting_cancel"),
    path("teams/<slug:slug>/<int:pk>/move/", views.meeting_move, name="meeting_move"),
    path("teams/<slug:slug>/<int:pk>/end/", views.meeting_end, name="meeting_end"),
    path("teams/<slug:slug>/<int:pk>/agenda/", views.agenda, name="agenda"),
    path("teams/<slug:slug>/<int:pk>/agenda/add/", views.agenda_add, name="agenda_add"),
    path("teams/<slug:slug>/<int:pk>/agenda/remove/", views.agenda_remove, name="agenda_remove"),
    path("teams/<slug:slug>/<int:pk>/agenda/order/", views.agenda_reorder, name="agenda_reorder"),
    path("teams/<slug:slug>/<int:pk>/agenda/publish/", views.agenda_publish, name="agenda_publish"),
    path("teams/<slug:slug>/<int:pk>/agenda/print/", views.agenda_print, name="agenda_print"),
    path("teams/<slug:slug>/<int:pk>/attendance/", views.attendance, name="attendance"),
    path("teams/<slug:slug>/<int:pk>/minutes/", views.minutes, name="minutes"),
    path("teams/<slug:slug>/<int:pk>/minutes/publish/", views.minutes_publish, name="minutes_publish"),
    path("teams/<slug:slug>/<int:pk>/minutes/addendum/", views.minutes_addendum, name="minutes_addendum"),
    path("teams/<slug:slug>/outcome-summaries/<int:pk>/", views.outcome_summary, name="outcome_summary"),
    path("teams/<slug:slug>/outcome-summaries/<int:pk>/pdf/", views.outcome_summary_pdf, name="outcome_summary_pdf"),
    path("teams/<slug:slug>/outcome-summaries/<int:pk>/send/", views.outcome_summary_send, name="outcome_summary_send"),
    path("teams/<slug:slug>/outcome-summaries/<int:pk>/correct/", views.outcome_summary_correct, name="outcome_summary_correct"),
    path("teams/<slug:slug>/items/<int:pk>/", views.item_update, name="item_update"),
    path("teams/<slug:slug>/items/<int:pk>/move/", views.item_move, name="item_move"),
    path("teams/<slug:slug>/items/<int:pk>/notes/", views.item_notes, name="item_notes"),
    path("teams/<slug:slug>/items/<int:pk>/outcome/", views.item_outcome, name="item_outcome"),
    path("teams/<slug:slug>/items/<int:pk>/timer/", views.item_timer, name="item_timer"),
    path("teams/<slug:slug>/items/<int:pk>/decisions/", views.decision_add, name="decision_add"),
    path("teams/<slug:slug>/items/<int:pk>/actions/", views.action_add, name="action_add"),
    path("teams/<slug:slug>/decisions/<int:pk>/sign/", views.decision_sign, name="decision_sign"),
    path("teams/<slug:slug>/actions/<int:pk>/", views.action_detail, name="action"),
    path("teams/<slug:slug>/actions/<int:pk>/status/", views.action_status, name="action_status"),
    path("teams/<slug:slug>/actions/<int:pk>/edit/", views.action_edit, name="action_edit"),
    path("teams/<slug:slug>/reassign/<int:user_id>/", views.reassign_actions, name="reassign_actions"),
]
