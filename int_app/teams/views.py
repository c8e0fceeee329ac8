import csv

from allauth.account.internal.flows.login import record_authentication
from allauth.account.utils import perform_login
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Exists, OuterRef
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import invitations as invitation_service
from .forms import AcceptInvitationForm, InviteCSVForm, InviteForm
from .models import Invitation, InvitationRefused, Team, WorkerHeartbeat
from .roles import Right, Role, has_right
from .scoping import team_for


@require_GET
def team_detail(request: HttpRequest, slug: str) -> HttpResponse:
    team = get_object_or_404(Team.objects.visible_to(request.user).select_related("neighbourhood__place"), slug=slug)
    members = team.memberships.select_related("user", "organisation").order_by("role", "user__full_name")
    pcns = team.pcns.prefetch_related("practices")
    return render(
        request,
        "teams/team_detail.html",
        {
            "team": team,
            "members": members,
            "pcns": pcns,
            "can_view_cases": has_right(request.user, team, Right.VIEW_CASES),
            "can_review_access": has_right(request.user, team, Right.REVIEW_ACCESS),
        },
    )


# --- Invitations (staff admins) -----------------------------------------------------------------


def _staff_teams(request: HttpRequest) -> list[Team]:
    """The teams this staff admin invites into; anyone else is forbidden the invitation pages."""
    teams = invitation_service.teams_to_invite_into(request.user)
    if not teams:
        raise PermissionDenied
    return teams


@require_GET
def invitations(request: HttpRequest) -> HttpResponse:
    teams = _staff_teams(request)
    rows = list(
        Invitation.objects.visible_to(request.user)
        .select_related("team", "invited_by", "user")
        .order_by("-invited_at", "-pk")[:500]
    )
    now = timezone.now()
    for invitation in rows:
        invitation.current_state = invitation.state_at(now)
    return render(request, "teams/invitations.html", {"invitations": rows, "teams": teams, "states": Invitation.State})


@require_http_methods(["GET", "POST"])
def invitation_new(request: HttpRequest) -> HttpResponse:
    _staff_teams(request)
    form = InviteForm(request.POST or None, admin=request.user)
    if request.method == "POST" and form.is_valid():
        invitation = invitation_service.invitation_create(invitee=form.invitee, by=request.user)
        messages.success(request, f"Invitation sent to {invitation.email}.")
        return redirect("invitations")
    return render(request, "teams/invitation_new.html", {"form": form})


@require_http_methods(["GET", "POST"])
def invitation_upload(request: HttpRequest) -> HttpResponse:
    teams = _staff_teams(request)
    form = InviteCSVForm(request.POST or None, request.FILES or None)
    problems: list[invitation_service.LineProblem] = []
    if request.method == "POST" and form.is_valid():
        invitees, problems = invitation_service.read_invitees_csv(form.cleaned_data["file"].read(), admin=request.user)
        if not problems:
            created = invitation_service.invitations_create(invitees=invitees, by=request.user)
            messages.success(request, f"{len(created)} invitation{'s' if len(created) != 1 else ''} sent.")
            return redirect("invitations")
    return render(
        request,
        "teams/invitation_upload.html",
        {
            "form": form,
            "problems": problems[:200],
            "more_problems": max(0, len(problems) - 200),
            "teams": teams,
            "roles": Role.choices,
        },
        status=400 if problems else 200,
    )


def _on_invitation(request: HttpRequest, pk: int, act, done: str) -> HttpResponse:
    """Resend or revoke: `act` on an invitation within this admin's teams (the address names no
    team: one outside them is not found), then back to the list, saying what happened or why not."""
    invitation = get_object_or_404(Invitation.objects.visible_to(request.user).select_related("user", "team"), pk=pk)
    try:
        act(invitation=invitation, by=request.user)
    except InvitationRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, done.format(email=invitation.email))
    return redirect("invitations")


@require_POST
def invitation_resend(request: HttpRequest, pk: int) -> HttpResponse:
    return _on_invitation(request, pk, invitation_service.invitation_resend, "A new link was sent to {email}; the old one no longer works.")


@require_POST
def invitation_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    return _on_invitation(
        request, pk, invitation_service.invitation_revoke, "The invitation to {email} was revoked and the account switched off."
    )


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The emailed link: choose a password, then straight on to setting up the authenticator app.
    A link that is unknown (or was replaced by a newer one), used, expired or revoked gets a page
    that says which, and what to do."""
    invitation = invitation_service.invitation_for_token(token)
    if invitation is None:
        return render(request, "teams/invitation_refused.html", {"reason": "unknown"}, status=404)
    state = invitation.state
    if state != Invitation.State.PENDING:
        return render(request, "teams/invitation_refused.html", {"reason": state, "invitation": invitation}, status=410)
    if request.user.is_authenticated:
        # Accepting would sign this browser in as someone else.
        return render(request, "teams/invitation_accept.html", {"invitation": invitation, "signed_in": True})
    if not settings.INT_LOCAL_PASSWORDS:
        # No password to choose: the person signs in with NHS CIS2, which takes up the invitation.
        return render(request, "teams/invitation_accept.html", {"invitation": invitation, "cis2_only": True})
    form = AcceptInvitationForm(request.POST or None, user=invitation.user)
    if request.method == "POST" and form.is_valid():
        try:
            user = invitation_service.invitation_accept(invitation=invitation, password=form.cleaned_data["password1"])
        except InvitationRefused as refusal:
            return render(request, "teams/invitation_refused.html", {"reason": "refused", "message": str(refusal)}, status=410)
        # The password was typed a moment ago: setting up the app asks for no second one.
        record_authentication(request, user, method="password", email=user.email, reauthenticated=True)
        return perform_login(request, user, redirect_url=reverse("mfa_activate_totp"))
    return render(request, "teams/invitation_accept.html", {"invitation": invitation, "form": form})


# --- Access review (information governance lead, coordinator) ---------------------------------


def access_review_rows(request: HttpRequest, team: Team) -> list:
    """Every member of the team with how they sign in and how they came to be there: two
    queries however many members."""
    members = list(
        team.memberships.select_related("user", "organisation", "practice")
        .annotate(
            mfa_on=Exists(Authenticator.objects.filter(user=OuterRef("user"), type=Authenticator.Type.TOTP))
        )
        .order_by("user__full_name", "pk")
    )
    latest: dict[int, Invitation] = {}
    invitations = Invitation.objects.visible_to(request.user, Right.REVIEW_ACCESS).filter(team=team)
    for invitation in invitations.select_related("invited_by").order_by("invited_at", "pk"):
        latest[invitation.user_id] = invitation
    now = timezone.now()
    for member in members:
        member.invitation = latest.get(member.user_id)
        member.invitation_state = member.invitation.state_at(now) if member.invitation else None
    return members


@require_GET
def access_review(request: HttpRequest, slug: str) -> HttpResponse:
    team = team_for(request.user, slug, Right.REVIEW_ACCESS)
    return render(request, "teams/access_review.html", {"team": team, "members": access_review_rows(request, team), "now": timezone.now()})


def spreadsheet_safe(text: str) -> str:
    """A cell a spreadsheet would run as a formula gets a leading quote."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


ACCESS_REVIEW_COLUMNS = [
    "name", "email", "role", "organisation", "account", "last_login", "mfa", "invited_by", "invited_at", "invitation",
]


@require_GET
def access_review_csv(request: HttpRequest, slug: str) -> HttpResponse:
    team = team_for(request.user, slug, Right.REVIEW_ACCESS)
    today = timezone.localdate()
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="access-review-{team.slug}-{today:%Y-%m-%d}.csv"'
    writer = csv.writer(response)
    writer.writerow(ACCESS_REVIEW_COLUMNS)
    for member in access_review_rows(request, team):
        invitation = member.invitation
        writer.writerow(
            spreadsheet_safe(str(value))
            for value in (
                member.user.full_name,
                member.user.email,
                member.get_role_display(),
                member.organisation.name,
                "active" if member.user.is_active else "switched off",
                timezone.localtime(member.user.last_login).isoformat(timespec="minutes") if member.user.last_login else "never",
                "on" if member.mfa_on else "off",
                (invitation.invited_by.full_name if invitation and invitation.invited_by else ""),
                timezone.localtime(invitation.invited_at).isoformat(timespec="minutes") if invitation else "",
                member.invitation_state.label if invitation else "not invited (set up by an admin)",
            )
        )
    return response


@login_not_required
@require_GET
@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """The process is up. Touches nothing else, so a load balancer can poll it cheaply."""
    return JsonResponse({"status": "ok"})


@login_not_required
@require_GET
@never_cache
def readyz(request: HttpRequest) -> HttpResponse:
    """The database and the broker answer; says when a worker last beat."""
    checks: dict[str, str] = {}
    ready = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as error:  # any driver error means not ready
        checks["database"] = f"error: {type(error).__name__}"
        ready = False
    checks["broker"], broker_ok = _broker_status()
    ready = ready and broker_ok
    if checks["database"] == "ok":
        beat = WorkerHeartbeat.objects.filter(name="celery").first()
        checks["worker_last_seen"] = beat.seen_at.isoformat() if beat else "never"
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)


def _broker_status() -> tuple[str, bool]:
    if not settings.REDIS_URL:
        return "in-process (no REDIS_URL)", True
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2).ping()
    except redis.RedisError as error:
        return f"error: {type(error).__name__}", False
    return "ok", True
