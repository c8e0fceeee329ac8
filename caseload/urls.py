from django.urls import path

from . import views

app_name = "caseload"

# Pages about one team's residents carry the team in the address: a member of another team gets
# "not found", and a member of this team without the right gets "forbidden".
urlpatterns = [
    path("", views.index, name="index"),
    path("refer/", views.refer, name="refer"),
    path("refer/check-nhs-number/", views.check_nhs_number, name="check_nhs_number"),
    path("service-use/import/", views.import_service_use, name="import_service_use"),
    path("service-use/imports/<int:pk>/", views.import_job, name="import_job"),
    path("teams/<slug:slug>/", views.caseload_list, name="list"),
    path("teams/<slug:slug>/key-workers/", views.key_workers, name="key_workers"),
    path("teams/<slug:slug>/case-finding/", views.case_finding, name="case_finding"),
    path("teams/<slug:slug>/directory/", views.directory, name="directory"),
    path("teams/<slug:slug>/directory/new/", views.intervention_add, name="intervention_add"),
    path("teams/<slug:slug>/directory/<int:pk>/edit/", views.intervention_edit, name="intervention_edit"),
    path("teams/<slug:slug>/residents/<int:pk>/", views.resident_detail, name="resident"),
    path("teams/<slug:slug>/residents/<int:pk>/access-log/", views.resident_access_log, name="resident_access_log"),
    path("teams/<slug:slug>/residents/<int:pk>/triage/", views.triage, name="triage"),
    path("teams/<slug:slug>/residents/<int:pk>/start/", views.start_intervention, name="start_intervention"),
    path("teams/<slug:slug>/residents/<int:pk>/consent/", views.record_consent, name="record_consent"),
    path("teams/<slug:slug>/residents/<int:pk>/plan/", views.support_plan, name="support_plan"),
    path("teams/<slug:slug>/residents/<int:pk>/plan/goals/", views.goal_add, name="goal_add"),
    path("teams/<slug:slug>/residents/<int:pk>/plan/goals/<int:goal_pk>/", views.goal_status, name="goal_status"),
    path("teams/<slug:slug>/residents/<int:pk>/plan/interventions/", views.plan_interventions, name="plan_interventions"),
    path("teams/<slug:slug>/residents/<int:pk>/step-down/", views.step_down, name="step_down"),
    path("teams/<slug:slug>/residents/<int:pk>/close/", views.close, name="close"),
    # The record on request, restricted, retired: the coordinator's (MANAGE_RECORDS).
    path("teams/<slug:slug>/records/", views.records, name="records"),
    path("teams/<slug:slug>/records/retention/", views.retention, name="retention"),
    path("teams/<slug:slug>/records/subject-access/<int:pk>/produce/", views.subject_access_produce, name="subject_access_produce"),
    path("teams/<slug:slug>/records/subject-access/<int:pk>/download/", views.subject_access_download, name="subject_access_download"),
    path("teams/<slug:slug>/records/subject-access/<int:pk>/answered/", views.subject_access_answered, name="subject_access_answered"),
    path("teams/<slug:slug>/residents/<int:pk>/subject-access/", views.subject_access_new, name="subject_access_new"),
    path("teams/<slug:slug>/residents/<int:pk>/restrict/", views.restrict, name="restrict"),
    path("teams/<slug:slug>/residents/<int:pk>/lift-restriction/", views.lift_restriction, name="lift_restriction"),
]
