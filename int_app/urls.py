from django.contrib import admin
from django.urls import include, path
from django.views.decorators.http import require_GET

from int_app.home import views as home_views
from int_app.teams import admin as team_admin
from int_app.teams import views as team_views

urlpatterns = [
    path("", home_views.home, name="home"),
    path("teams/<slug:slug>/", team_views.team_detail, name="team_detail"),
    path("teams/<slug:slug>/access-review/", team_views.access_review, name="access_review"),
    path("teams/<slug:slug>/access-review.csv", team_views.access_review_csv, name="access_review_csv"),
    # Staff admins' invitations across their teams; the person invited follows the emailed link.
    path("invitations/", team_views.invitations, name="invitations"),
    path("invitations/new/", team_views.invitation_new, name="invitation_new"),
    path("invitations/upload/", team_views.invitation_upload, name="invitation_upload"),
    path("invitations/<int:pk>/resend/", team_views.invitation_resend, name="invitation_resend"),
    path("invitations/<int:pk>/revoke/", team_views.invitation_revoke, name="invitation_revoke"),
    path("invitations/accept/<str:token>/", team_views.invitation_accept, name="invitation_accept"),
    path("accounts/", include("allauth.urls")),
    path("healthz", team_views.healthz, name="healthz"),
    path("readyz", team_views.readyz, name="readyz"),
    path("caseload/", include("caseload.urls")),
    path("meetings/", include("meetings.urls")),
    path("pressure/", include("pressure.urls")),
    path("kpis/", include("kpis.urls")),
    # Ahead of the admin's own "View on site" redirect, which would reveal another team's objects.
    path("admin/r/<path:content_type_id>/<path:object_id>/", require_GET(admin.site.admin_view(team_admin.view_on_site))),
    path("admin/", admin.site.urls),
]
