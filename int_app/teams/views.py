from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .models import Team, WorkerHeartbeat
from .roles import Right, has_right


@require_GET
def team_detail(request: HttpRequest, slug: str) -> HttpResponse:
    team = get_object_or_404(Team.objects.visible_to(request.user).select_related("neighbourhood__place"), slug=slug)
    members = team.memberships.select_related("user", "organisation").order_by("role", "user__full_name")
    pcns = team.pcns.prefetch_related("practices")
    return render(
        request,
        "teams/team_detail.html",
        {"team": team, "members": members, "pcns": pcns, "can_view_cases": has_right(request.user, team, Right.VIEW_CASES)},
    )


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
