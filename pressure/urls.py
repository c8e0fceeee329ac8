from django.urls import path

from . import views

app_name = "pressure"

urlpatterns = [
    path("", views.pressure_heatmap, name="heatmap"),
    path("report/", views.report_pressure, name="report"),
    path("reports/<int:pk>/", views.pressure_report_detail, name="report_detail"),
    path("alerts/<int:pk>/acknowledge/", views.acknowledge_alert, name="alert_acknowledge"),
    path("sitrep/", views.pressure_sitrep, name="sitrep"),
    path("sitrep.csv", views.pressure_sitrep_csv, name="sitrep_csv"),
]
