from django.urls import path

from . import views

app_name = "meetings"

urlpatterns = [
    path("", views.meeting_list, name="meeting_list"),
    path("teams/<slug:slug>/series/new/", views.series_create, name="series_create"),
    path("series/<int:pk>/", views.series_edit, name="series_edit"),
    path("<int:pk>/", views.meeting_detail, name="meeting"),
    path("<int:pk>/cancel/", views.meeting_cancel, name="meeting_cancel"),
    path("<int:pk>/move/", views.meeting_move, name="meeting_move"),
    path("<int:pk>/end/", views.meeting_end, name="meeting_end"),
    path("<int:pk>/agenda/", views.agenda, name="agenda"),
    path("<int:pk>/agenda/add/", views.agenda_add, name="agenda_add"),
    path("<int:pk>/agenda/remove/", views.agenda_remove, name="agenda_remove"),
    path("<int:pk>/agenda/order/", views.agenda_reorder, name="agenda_reorder"),
    path("<int:pk>/agenda/publish/", views.agenda_publish, name="agenda_publish"),
    path("<int:pk>/agenda/print/", views.agenda_print, name="agenda_print"),
    path("<int:pk>/attendance/", views.attendance, name="attendance"),
    path("<int:pk>/minutes/", views.minutes, name="minutes"),
    path("<int:pk>/minutes/publish/", views.minutes_publish, name="minutes_publish"),
    path("<int:pk>/minutes/addendum/", views.minutes_addendum, name="minutes_addendum"),
    path("items/<int:pk>/", views.item_update, name="item_update"),
    path("items/<int:pk>/move/", views.item_move, name="item_move"),
    path("items/<int:pk>/notes/", views.item_notes, name="item_notes"),
    path("items/<int:pk>/outcome/", views.item_outcome, name="item_outcome"),
    path("items/<int:pk>/timer/", views.item_timer, name="item_timer"),
    path("items/<int:pk>/decisions/", views.decision_add, name="decision_add"),
    path("items/<int:pk>/actions/", views.action_add, name="action_add"),
    path("decisions/awaiting/", views.decisions_awaiting, name="decisions_awaiting"),
    path("decisions/<int:pk>/sign/", views.decision_sign, name="decision_sign"),
    path("actions/", views.my_actions, name="my_actions"),
    path("actions/<int:pk>/", views.action_detail, name="action"),
    path("actions/<int:pk>/status/", views.action_status, name="action_status"),
    path("actions/<int:pk>/edit/", views.action_edit, name="action_edit"),
]
