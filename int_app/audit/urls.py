from django.urls import path

from . import views

app_name = "audit"

urlpatterns = [
    path("teams/<slug:slug>/residents/<int:pk>/", views.resident_access_log, name="resident_access_log"),
]
