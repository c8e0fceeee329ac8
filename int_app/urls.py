from django.contrib import admin
from django.urls import include, path

from int_app.home import views as home_views
from int_app.teams import views as team_views

urlpatterns = [
    path("", home_views.home, name="home"),
    path("teams/<slug:slug>/", team_views.team_detail, name="team_detail"),
    path("accounts/", include("allauth.urls")),
    path("healthz", team_views.healthz, name="healthz"),
    path("readyz", team_views.readyz, name="readyz"),
    path("caseload/", include("caseload.urls")),
    path("meetings/", include("meetings.urls")),
    path("pressure/", include("pressure.urls")),
    path("kpis/", include("kpis.urls")),
    path("admin/", admin.site.urls),
]
