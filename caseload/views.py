"""Caseload pages. Every view asks has_right() for the team in question and fetches through the
model's visible_to(), so another team's resident is simply not found (404)."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from itertools import chain

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from int_app.audit.access import record_resident_access
from int_app.audit.models import ResidentAccess
from int_app.teams.models import Team, User
from int_app.teams.roles import Right, has_right

from .forms import (
    CaseloadFilterForm,
    CloseForm,
    ConsentForm,
    GoalForm,
    GoalStatusForm,
    ImportForm,
    InterventionForm,
    PlanInterventionsForm,
    ReferralForm,
    ResidentChangeForm,
    StartInterventionForm,
    StepDownForm,
    TriageForm,
)
from .models import Goal, ImportJob, Intervention, Resident, ServiceUseEvent, key_worker_caseloads
from .nhs_number import normalise_nhs_number, validate_nhs_number
from .services import import_job_create, open_episode_of

PAGE_SIZE = 25
RECENT_SERVICE_USE = 50
Status = Resident.Status


def teams_with(user: User, right: Right) -> list[Team]:
    return [team for team in Team.objects.visible_to(user).order_by("name") if has_right(user, team, right)]


def team_for(request: HttpRequest, slug: str, right: Right) -> Team:
    """The team in the address: not found unless the user is in it, forbidden without the right."""
    team = get_object_or_404(Team.objects.visible_to(request.user), slug=slug)
    if not has_right(request.user, team, right):
        raise PermissionDenied
    return team


def resident_for(request: HttpRequest, slug: str, pk: int, right: Right) -> Resident:
    team = team_for(request, slug, right)
    return get_object_or_404(
        Resident.objects.visible_to(request.user).select_related("team", "practice", "key_worker"), pk=pk, team=team
    )


# --- the caseload -------------------------------------------------------------------------------


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """The "Caseload" link: the user's first team's caseload (the list links to the others)."""
    teams = teams_with(request.user, Right.VIEW_CASES)
    if not teams:
        raise PermissionDenied
    return redirect("caseload:list", teams[0].slug)


@require_GET
def caseload_list(request: HttpRequest, slug: str) -> HttpResponse:
    team = team_for(request, slug, Right.VIEW_CASES)
    key_workers = [membership.user for membership in team.key_workers().order_by("user__full_name")]
    practices = list(team.practices.order_by("name"))
    filters = CaseloadFilterForm(request.GET, team=team, key_workers=key_workers, practices=practices)
    residents = filters.residents(
        Resident.objects.visible_to(request.user)
        .filter(team=team)
        .select_related("practice", "key_worker")
        .with_last_contact()
    )
    page = Paginator(residents, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "team": team,
        "filters": filters,
        "page": page,
        "other_teams": [t for t in teams_with(request.user, Right.VIEW_CASES) if t != team],
        "can_refer": has_right(request.user, team, Right.RECORD_REFERRALS),
        "contact_cutoff": timezone.now() - datetime.timedelta(days=28),
    }
    return render(request, "caseload/list.html#results" if request.htmx else "caseload/list.html", context)


@require_GET
def key_workers(request: HttpRequest, slug: str) -> HttpResponse:
    """Who holds how many residents, so the coordinator can share new ones out fairly."""
    team = team_for(request, slug, Right.RECORD_REFERRALS)
    caseloads = list(key_worker_caseloads(team))
    by_organisation: dict[str, dict[str, int]] = {}
    for person in caseloads:
        totals = by_organisation.setdefault(person.key_worker_organisation, {"people": 0, "active": 0, "accepted": 0})
        totals["people"] += 1
        totals["active"] += person.active_count
        totals["accepted"] += person.accepted_count
    return render(
        request,
        "caseload/key_workers.html",
        {"team": team, "caseloads": caseloads, "by_organisation": sorted(by_organisation.items())},
    )


# --- referral -------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def refer(request: HttpRequest) -> HttpResponse:
    teams = teams_with(request.user, Right.RECORD_REFERRALS)
    if not teams:
        raise PermissionDenied
    form = ReferralForm(request.POST or None, user=request.user, teams=teams)
    if request.method == "POST" and form.is_valid():
        resident = form.save()
        if resident is not None:
            messages.success(request, f"Referral recorded: {resident.full_name} is waiting for triage.")
            return redirect(resident)
    return render(request, "caseload/refer.html", {"form": form})


@require_GET
def check_nhs_number(request: HttpRequest) -> HttpResponse:
    """The message under the NHS number field, as the coordinator types."""
    if not teams_with(request.user, Right.RECORD_REFERRALS):
        raise PermissionDenied
    raw = request.GET.get("nhs_number", "").strip()
    check: dict = {}
    if raw:
        try:
            validate_nhs_number(raw)
        except ValidationError as error:
            check["problem"] = error.messages[0]
        else:
            existing = open_episode_of(normalise_nhs_number(raw))
            check["valid"] = True
            if existing is not None:
                visible = Resident.objects.visible_to(request.user).filter(pk=existing.pk).exists()
                check["open_record"] = existing if visible else None
                check["open_elsewhere"] = not visible
    return render(request, "caseload/refer.html#nhs_number_check", {"check": check})


# --- one resident ---------------------------------------------------------------------------------


@require_GET
def resident_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    resident = resident_for(request, slug, pk, Right.VIEW_CASES)
    record_resident_access(request, [resident.pk], ResidentAccess.Page.RESIDENT)
    events = list(resident.events.select_related("by"))
    recent_use = list(resident.service_use.order_by("-date", "kind")[:RECENT_SERVICE_USE])
    months = resident.service_use_by_month()
    # The meetings' side of the journey: each case discussion with its decisions, and each action.
    discussions = list(
        resident.agenda_items.filter(outcome="discussed")
        .select_related("meeting__series")
        .prefetch_related("decisions__signed_by")
    )
    actions = list(resident.actions.select_related("owner"))
    timeline = sorted(
        chain(
            ({"day": timezone.localdate(e.occurred_at), "order": 1, "event": e} for e in events),
            ({"day": u.date, "order": 0, "use": u} for u in recent_use),
            ({"day": timezone.localdate(d.meeting.starts_at), "order": 2, "discussion": d} for d in discussions),
            ({"day": timezone.localdate(a.created_at), "order": 3, "action": a} for a in actions),
        ),
        key=lambda item: (item["day"], item["order"]),
        reverse=True,
    )
    return render(
        request,
        "caseload/resident.html",
        {
            "resident": resident,
            "timeline": timeline,
            "service_use_total": resident.service_use.count(),
            "recent_service_use_shown": len(recent_use),
            "months": months,
            "chart_data": months.chart_data(),
            "goals": resident.goals.all(),
            "planned": resident.planned_interventions.select_related("intervention"),
            **resident_rights(request.user, resident),
        },
    )


def resident_rights(user: User, resident: Resident) -> dict[str, bool]:
    """Which next steps the page offers: the journey allows them and the user holds the right."""
    can_update = has_right(user, resident.team, Right.UPDATE_CASES)
    return {
        "can_triage": resident.status == Status.REFERRED and has_right(user, resident.team, Right.RECORD_REFERRALS),
        "can_start": resident.status == Status.ACCEPTED and can_update,
        "can_record_consent": resident.needs_consent and resident.status != Status.STEPPED_DOWN and can_update,
        "can_edit_plan": resident.plan_is_editable and can_update,
        "can_step_down": resident.status == Status.ACTIVE and can_update,
        "can_close": resident.status == Status.STEPPED_DOWN and can_update,
        "can_view_access_log": has_right(user, resident.team, Right.VIEW_ACCESS_LOG),
    }


def change_page(
    request: HttpRequest,
    resident: Resident,
    form_class: type[ResidentChangeForm],
    *,
    allowed: bool,
    heading: str,
    button: str,
    done: Callable[[Resident], str],
    template: str = "caseload/change.html",
) -> HttpResponse:
    """A page that moves the resident one step on: the form, the move, back to their page."""
    if not allowed:
        messages.error(request, f"{resident.full_name} is {resident.get_status_display().lower()}: {heading.lower()} is not possible now.")
        return redirect(resident)
    form = form_class(request.POST or None, resident=resident, user=request.user)
    if request.method == "POST" and form.is_valid() and form.save():
        messages.success(request, done(resident))
        return redirect(resident)
    return render(request, template, {"resident": resident, "form": form, "heading": heading, "button": button})


@require_http_methods(["GET", "POST"])
def triage(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    resident = resident_for(request, slug, pk, Right.RECORD_REFERRALS)
    return change_page(
        request,
        resident,
        TriageForm,
        allowed=resident.status == Status.REFERRED,
        heading="Triage the referral",
        button="Save the triage decision",
        done=lambda r: (
            f"{r.full_name} is accepted; {r.key_worker} is their key worker."
            if r.status == Status.ACCEPTED
            else f"{r.full_name}'s referral is recorded as not accepted."
        ),
        template="caseload/triage.html",
    )


@require_http_methods(["GET", "POST"])
def start_intervention(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    resident = resident_for(request, slug, pk, Right.UPDATE_CASES)
    return change_page(
        request,
        resident,
        StartInterventionForm,
        allowed=resident.status == Status.ACCEPTED,
        heading="Record the intervention start",
        button="Record the start",
        done=lambda r: f"{r.full_name}'s intervention started on {r.intervention_start:%d %B %Y}.",
    )


@require_http_methods(["GET", "POST"])
def record_consent(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    resident = resident_for(request, slug, pk, Right.UPDATE_CASES)
    return change_page(
        request,
        resident,
        ConsentForm,
        allowed=resident.needs_consent and resident.status != Status.STEPPED_DOWN,
        heading="Record consent to share information",
        button="Record consent",
        done=lambda r: f"Consent to share information is recorded for {r.full_name}.",
    )


@require_http_methods(["GET", "POST"])
def step_down(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    resident = resident_for(request, slug, pk, Right.UPDATE_CASES)
    return change_page(
        request,
        resident,
        StepDownForm,
        allowed=resident.status == Status.ACTIVE,
        heading="Step down",
        button="Step down",
        done=lambda r: f"{r.full_name} is stepped down: {r.get_step_down_outcome_display().lower()}.",
    )


@require_http_methods(["GET", "POST"])
def close(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    resident = resident_for(request, slug, pk, Right.UPDATE_CASES)
    return change_page(
        request,
        resident,
        CloseForm,
        allowed=resident.status == Status.STEPPED_DOWN,
        heading="Close the case",
        button="Close the case",
        done=lambda r: f"{r.full_name}'s case is closed.",
    )


# --- support plan -------------------------------------------------------------------------------


def plan_context(request: HttpRequest, resident: Resident, **forms) -> dict:
    can_edit = resident.plan_is_editable and has_right(request.user, resident.team, Right.UPDATE_CASES)
    return {
        "resident": resident,
        "goals": [(goal, GoalStatusForm(initial={"status": goal.status}, prefix=f"goal-{goal.pk}")) for goal in resident.goals.all()],
        "goal_form": forms.get("goal_form") or GoalForm(),
        "interventions_form": forms.get("interventions_form") or PlanInterventionsForm(resident=resident),
        "planned": resident.planned_interventions.select_related("intervention"),
        "can_edit_plan": can_edit,
    }


@require_GET
def support_plan(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    resident = resident_for(request, slug, pk, Right.VIEW_CASES)
    return render(request, "caseload/support_plan.html", plan_context(request, resident))


def plan_response(request: HttpRequest, resident: Resident, partial: str, saved: str | None, **forms) -> HttpResponse:
    """htmx swaps just the changed part; without JavaScript the plan page reloads."""
    if request.htmx:
        return render(request, f"caseload/support_plan.html#{partial}", plan_context(request, resident, **forms))
    if saved is None:
        return render(request, "caseload/support_plan.html", plan_context(request, resident, **forms))
    messages.success(request, saved)
    return redirect("caseload:support_plan", resident.team.slug, resident.pk)


@require_POST
def goal_add(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    resident = resident_for(request, slug, pk, Right.UPDATE_CASES)
    form = GoalForm(request.POST)
    saved = None
    if form.is_valid():
        try:
            goal = resident.add_goal(text=form.cleaned_data["text"], by=request.user)
        except ValidationError as refused:
            form.add_error(None, refused)
        else:
            saved, form = f"Goal added: {goal.text}", GoalForm()
    return plan_response(request, resident, "goals", saved, goal_form=form)


@require_POST
def goal_status(request: HttpRequest, slug: str, pk: int, goal_pk: int) -> HttpResponse:
    resident = resident_for(request, slug, pk, Right.UPDATE_CASES)
    goal = get_object_or_404(Goal.objects.visible_to(request.user), pk=goal_pk, resident=resident)
    goal.resident = resident
    form = GoalStatusForm(request.POST, prefix=f"goal-{goal.pk}")
    saved = None
    if form.is_valid():
        try:
            goal.set_status(form.cleaned_data["status"], by=request.user)
        except ValidationError as refused:
            messages.error(request, refused.messages[0])
        else:
            saved = f"Goal updated: {goal.get_status_display().lower()}."
    elif not request.htmx:
        messages.error(request, "Choose the goal's status from the list.")
    return plan_response(request, resident, "goals", saved)


@require_POST
def plan_interventions(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    resident = resident_for(request, slug, pk, Right.UPDATE_CASES)
    form = PlanInterventionsForm(request.POST, resident=resident)
    saved = None
    if form.is_valid():
        try:
            resident.choose_interventions(form.cleaned_data["interventions"], by=request.user)
        except ValidationError as refused:
            form.add_error(None, refused)
        else:
            saved = "Support plan interventions saved."
            form = PlanInterventionsForm(resident=resident)
    return plan_response(request, resident, "interventions", saved, interventions_form=form)


# --- the interventions directory ------------------------------------------------------------------


@require_GET
def directory(request: HttpRequest, slug: str) -> HttpResponse:
    team = team_for(request, slug, Right.VIEW_CASES)
    interventions = Intervention.objects.visible_to(request.user).filter(team=team).order_by("category", "name")
    return render(
        request,
        "caseload/directory.html",
        {"team": team, "interventions": interventions, "can_edit": has_right(request.user, team, Right.KEEP_DIRECTORY)},
    )


@require_http_methods(["GET", "POST"])
def intervention_add(request: HttpRequest, slug: str) -> HttpResponse:
    team = team_for(request, slug, Right.KEEP_DIRECTORY)
    return intervention_page(request, team, Intervention(team=team))


@require_http_methods(["GET", "POST"])
def intervention_edit(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    team = team_for(request, slug, Right.KEEP_DIRECTORY)
    intervention = get_object_or_404(Intervention.objects.visible_to(request.user), pk=pk, team=team)
    return intervention_page(request, team, intervention)


def intervention_page(request: HttpRequest, team: Team, intervention: Intervention) -> HttpResponse:
    form = InterventionForm(request.POST or None, instance=intervention)
    if request.method == "POST" and form.is_valid():
        saved = form.save()
        messages.success(request, f"{saved.name} is saved in the directory.")
        return redirect("caseload:directory", team.slug)
    return render(request, "caseload/intervention_form.html", {"team": team, "form": form, "intervention": intervention})


# --- service-use import ---------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def import_service_use(request: HttpRequest) -> HttpResponse:
    teams = teams_with(request.user, Right.RECORD_REFERRALS)
    if not teams:
        raise PermissionDenied
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        # In chunks, from the temporary file a large upload was streamed to: never whole in memory.
        job = import_job_create(content=upload.chunks(), file_name=upload.name, teams=teams, by=request.user)
        return redirect("caseload:import_job", job.pk)
    recent = (
        ImportJob.objects.visible_to(request.user)
        .filter(teams__in=teams)
        .select_related("uploaded_by")[:10]
    )
    return render(
        request,
        "caseload/import.html",
        {"form": form, "teams": teams, "recent": recent, "kinds": ServiceUseEvent.Kind.choices},
    )


@require_GET
def import_job(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(ImportJob.objects.visible_to(request.user).select_related("uploaded_by"), pk=pk)
    teams = list(job.teams.all())
    if not any(has_right(request.user, team, Right.RECORD_REFERRALS) for team in teams):
        raise PermissionDenied
    template = "caseload/import_job.html#progress" if request.htmx else "caseload/import_job.html"
    return render(request, template, {"job": job, "teams": teams})
