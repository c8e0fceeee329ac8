from django.urls import path

from . import views

app_name = "kpis"

urlpatterns = [
    path("", views.kpi_dashboard, name="dashboard"),
    path("export.csv", views.kpi_export, name="export"),
    path("methods/", views.kpi_methods, name="methods"),
    path("pressure/", views.pressure_heatmap, name="pressure_heatmap"),
    path("pressure/report/", views.report_pressure, name="pressure_report"),
    path("pressure/reports/<int:pk>/", views.pressure_report_detail, name="pressure_report_detail"),
    path("pressure/alerts/<int:pk>/acknowledge/", views.acknowledge_alert, name="pressure_alert_acknowledge"),
]
