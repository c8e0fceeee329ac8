from django.urls import path

from . import views

app_name = "kpis"

urlpatterns = [
    path("", views.kpi_dashboard, name="dashboard"),
    path("export.csv", views.kpi_export, name="export"),
    path("methods/", views.kpi_methods, name="methods"),
    path("population/", views.population_upload, name="population"),
    path("population/<int:pk>/", views.population_extract, name="population_extract"),
]
