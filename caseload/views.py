"""Caseload pages. Every fetch goes through the model's visible_to(user, right), by the one rule
in int_app/teams/scoping.py: where the address names the team, someone not in it gets 404 and a
member without the right 403; where it does not (an import), the object is simply not found."""

from __future__ import annotations

import datetime
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from int_app.teams.models import Team, User
from int_app.teams.page_cache import cached_page
from int_app.teams.roles import Right, has_right
from int_app.teams.scoping import object_in_team, team_for

from .access import record_extract_access, record_resident_access
from .case_finding import candidates_for
from .forms import (
    CaseFindingFilterForm,
    CaseloadFilterForm,
    CloseForm,
    ConsentForm,
    GoalForm,
    GoalStatusForm,
    ImportForm,
    InterventionForm,
    LiftRestrictionForm,
    PlanInterventionsForm,
    ReferralForm,
    ResidentChangeForm,
    RestrictForm,
    StartInterventionForm,
    StepDownForm,
    SubjectAccessRequestForm,
    TriageForm,
)
from .journey import journey_of
from .models import (
    Goal,
    ImportJob,
    Intervention,
    PopulationExtract,
    PopulationPerson,
    Resident,
    ResidentAccess,
    ServiceUseEvent,
    SubjectAccessRequest,
    key_worker_caseloads,
)
from .nhs_number import normalise_nhs_number, validate_nhs_number
from .records import bundle_file_name, next_retirement_run, subject_access_bundle_request
from .services import import_job_create, open_episode_of

PAGE_SIZE = 25
# An open case with no contact for this long is flagged in the caseload.
CONTACT_DUE = datetime.timedelta(days=28)
RECENT_SERVICE_USE = 50
Status = Resident.Status


def resident_for(request: HttpRequest, slug: str, pk: int, right: Right) -> Resident:
    request.user.memberships_with_teams()  # read first (the header needs them too), so the scope below is by team id
    return object_in_team(
        Resident.objects.visible_to(request.user, right).select_related("team", "practice", "key_worker"),
        user=request.user,
        right=right,
        slug=slug,
        team="team",
        pk=pk,
    )


# --- the caseload -------------------------------------------------------------------------------


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """The "Caseload" link: the user's first team's caseload (the list links to the others)."""
    first = Team.objects.visible_to(request.user, Right.VIEW_CASES).first()
    if first is None:
        raise PermissionDenied
    return redirect("caseload:list", first.slug)


@require_GET
def caseload_list(request: HttpRequest, slug: str) -> HttpResponse:
    team = team_for(request.user, slug, Right.VIEW_CASES)
    cached = None if request.htmx else cached_page(request, "caseload_list")
    if cached and cached.hit:
        return cached.response(request)
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
    contact_cutoff = timezone.now() - CONTACT_DUE
    if cached:
        # The page reads differently, with no write, when a shown case passes 28 days without contact.
        cached.expires_at = lambda: min(
            (r.last_contact + CONTACT_DUE for r in page.object_list if r.is_open and r.last_contact and r.last_contact >= contact_cutoff), default=None
        )
    context = {
        "cached_page": cached,
        "team": team,
        "filters": filters,
        "page": page,
        "other_teams": [m.team for m in request.user.memberships_with_right(Right.VIEW_CASES) if m.team_id != team.pk],
        "can_refer": has_right(request.user, team, Right.RECORD_REFERRALS),
        "can_allocate": has_right(request.user, team, Right.ALLOCATE_KEY_WORKER),
        "can_import": has_right(request.user, team, Right.IMPORT_SERVICE_USE),
        "can_find_cases": has_right(request.user, team, Right.FIND_CASES),
        "can_import_population": has_right(request.user, team, Right.IMPORT_POPULATION),
        "contact_cutoff": contact_cutoff,
        "can_manage_records": has_right(request.user, team, Right.MANAGE_RECORDS),
    }
    if context["can_manage_records"] and not request.htmx:
        # Shown until each is marked answered: the law gives a month.
        context["open_requests"] = list(
            SubjectAccessRequest.objects.visible_to(request.user, Right.MANAGE_RECORDS).filter(resident__team=team).unanswered().select_related("resident").defer("bundle")
        )
    return render(request, "caseload/list.html#results" if request.htmx else "caseload/list.html", context)


@require_GET
def key_workers(request: HttpRequest, slug: str) -> HttpResponse:
    """Who holds how many residents, so the coordinator can share new ones out fairly."""
    team = team_for(request.user, slug, Right.ALLOCATE_KEY_WORKER)
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
    teams = list(Team.objects.visible_to(request.user, Right.RECORD_REFERRALS))
    if not teams:
        raise PermissionDenied
    form = ReferralForm(request.POST or None, user=request.user, teams=teams, initial=referral_prefill(request))
    if request.method == "POST" and form.is_valid():
        resident = form.save()
        if resident is not None:
            messages.success(request, f"Referral recorded: {resident.full_name} is waiting for triage.")
            return redirect(resident)
    return render(request, "caseload/refer.html", {"form": form})


def referral_prefill(request: HttpRequest) -> dict:
    """What case finding's "Refer" link fills in: the NHS number, practice and source as given (the
    form checks them again on saving), and the year of birth the extract holds, as a hint."""
    if request.method != "GET":
        return {}
    prefill: dict = {}
    nhs_number = request.GET.get("nhs_number", "")[:14]
    if nhs_number:
        prefill["nhs_number"] = nhs_number
    if request.GET.get("practice", "").isdigit():
        prefill["practice"] = int(request.GET["practice"])
    if request.GET.get("source") in Resident.ReferralSource.values:
        prefill["referral_source"] = request.GET["source"]
        if request.GET["source"] == Resident.ReferralSource.CASE_FINDING:
            prefill["referrer"] = "Case finding, population extract"
    birth_year = request.GET.get("birth_year", "")
    if len(birth_year) == 4 and birth_year.isdigit():
        prefill["birth_year"] = int(birth_year)
    return prefill


@require_GET
def check_nhs_number(request: HttpRequest) -> HttpResponse:
    """The message under the NHS number field, as the coordinator types."""
    if not request.user.memberships_with_right(Right.RECORD_REFERRALS):
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


# --- case finding -----------------------------------------------------------------------------------

CASE_FINDING_PAGE_SIZE = 25


@require_GET
def case_finding(request: HttpRequest, slug: str) -> HttpResponse:
    """People of the team's current extract not on a caseload, most recent and rising emergency
    use first. Every person listed is written to the access log."""
    team = team_for(request.user, slug, Right.FIND_CASES)
    extract = PopulationExtract.objects.visible_to(request.user, Right.FIND_CASES).current().filter(team=team).first()
    practices = list(team.practices.order_by("name"))
    filters = CaseFindingFilterForm(request.GET or None, practices=practices)
    page, candidates = None, []
    if extract is not None:
        people = filters.people(
            PopulationPerson.objects.visible_to(request.user, Right.FIND_CASES)
            .filter(extract=extract)
            .with_recent_use()
            .not_on_a_caseload(),
            last_year=extract.last_month.year,
        ).ranked()
        page = Paginator(people, CASE_FINDING_PAGE_SIZE).get_page(request.GET.get("page"))
        candidates = candidates_for(list(page.object_list), extract)
        record_extract_access(request, extract.pk, (c.person.nhs_number for c in candidates), ResidentAccess.Page.CASE_FINDING)
    practice_names = {practice.pk: practice.name for practice in practices}
    return render(
        request,
        "caseload/case_finding.html",
        {
            "team": team,
            "extract": extract,
            "filters": filters,
            "page": page,
            "candidates": [(candidate, practice_names.get(candidate.person.practice_id, "")) for candidate in candidates],
            "can_refer": has_right(request.user, team, Right.RECORD_REFERRALS),
        },
    )


# --- one resident ---------------------------------------------------------------------------------


@require_GET
def resident_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    resident = resident_for(request, slug, pk, Right.VIEW_CASES)
    record_resident_access(request, [resident.pk], ResidentAccess.Page.RESIDENT)  # on every request, cached or not
    cached = cached_page(request, "resident_detail")
    if cached.hit:
        return cached.response(request)
    timeline = journey_of(resident, user=request.user, recent_service_use=RECENT_SERVICE_USE)
    months = resident.service_use_by_month()
    return render(
        request,
        "caseload/resident.html",
        {
            "cached_page": cached,
            "resident": resident,
            "timeline": timeline,
            "service_use_total": resident.service_use.count(),
            "recent_service_use_shown": sum(entry.is_service_use for entry in timeline),
            "months": months,
            "chart_data": months.chart_data(),
            "goals": resident.goals.all(),
            "planned": resident.planned_interventions.select_related("intervention"),
            **resident_rights(request.user, resident),
        },
    )


def resident_rights(user: User, resident: Resident) -> dict[str, bool]:
    """Which next steps the page offers: the journey allows them and the user holds the right."""
    # A restricted record is kept, not worked on: no next step until the restriction is lifted.
    can_update = has_right(user, resident.team, Right.UPDATE_CASES) and not resident.is_restricted
    return {
        "can_triage": resident.status == Status.REFERRED
        and not resident.is_restricted
        and has_right(user, resident.team, Right.ALLOCATE_KEY_WORKER),
        "can_start": resident.status == Status.ACCEPTED and can_update,
        "can_record_consent": resident.needs_consent and resident.status != Status.STEPPED_DOWN and can_update,
        "can_edit_plan": resident.plan_is_editable and can_update,
        "can_step_down": resident.status == Status.ACTIVE and can_update,
        "can_close": resident.status == Status.STEPPED_DOWN and can_update,
        "can_view_access_log": has_right(user, resident.team, Right.VIEW_ACCESS_LOG),
        "can_manage_records": has_right(user, resident.team, Right.MANAGE_RECORDS) and not resident.is_retired,
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


@require_GET
def resident_access_log(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Who opened the record: the coordinator's question (VIEW_ACCESS_LOG) in the resident's team."""
    resident = resident_for(request, slug, pk, Right.VIEW_ACCESS_LOG)
    accesses = ResidentAccess.objects.visible_to(request.user, Right.VIEW_ACCESS_LOG).for_resident(resident.pk)
    page = Paginator(accesses, 50).get_page(request.GET.get("page"))
    return render(request, "caseload/resident_access_log.html", {"resident": resident, "page": page})


@require_http_methods(["GET", "POST"])
def triage(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    resident = resident_for(request, slug, pk, Right.ALLOCATE_KEY_WORKER)
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
    team = team_for(request.user, slug, Right.VIEW_CASES)
    interventions = Intervention.objects.visible_to(request.user).filter(team=team).order_by("category", "name")
    return render(
        request,
        "caseload/directory.html",
        {"team": team, "interventions": interventions, "can_edit": has_right(request.user, team, Right.KEEP_DIRECTORY)},
    )


@require_http_methods(["GET", "POST"])
def intervention_add(request: HttpRequest, slug: str) -> HttpResponse:
    team = team_for(request.user, slug, Right.KEEP_DIRECTORY)
    return intervention_page(request, team, Intervention(team=team))


@require_http_methods(["GET", "POST"])
def intervention_edit(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    intervention = object_in_team(
        Intervention.objects.visible_to(request.user, Right.KEEP_DIRECTORY).select_related("team"),
        user=request.user,
        right=Right.KEEP_DIRECTORY,
        slug=slug,
        team="team",
        pk=pk,
    )
    return intervention_page(request, intervention.team, intervention)


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
    teams = list(Team.objects.visible_to(request.user, Right.IMPORT_SERVICE_USE))
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
    # The address names no team: an import of teams where the person may not import is not found.
    job = get_object_or_404(
        ImportJob.objects.visible_to(request.user, Right.IMPORT_SERVICE_USE).select_related("uploaded_by"),
        pk=pk,
    )
    teams = list(job.teams.all())
    template = "caseload/import_job.html#progress" if request.htmx else "caseload/import_job.html"
    return render(request, template, {"job": job, "teams": teams})


# --- the record on request, restricted, retired (MANAGE_RECORDS: the coordinator) -------------------


@require_GET
def records(request: HttpRequest, slug: str) -> HttpResponse:
    """The team's records as the law sees them: subject access requests until they are answered,
    restricted records, and the way to the retention dry run."""
    team = team_for(request.user, slug, Right.MANAGE_RECORDS)
    requests = (
        SubjectAccessRequest.objects.visible_to(request.user, Right.MANAGE_RECORDS)
        .filter(resident__team=team)
        .select_related("resident__team", "received_by", "answered_by")
        .defer("bundle")
    )
    unanswered = list(requests.unanswered())
    answered = list(requests.filter(answered_on__isnull=False).order_by("-answered_on", "-pk")[:20])
    restricted = list(
        Resident.objects.visible_to(request.user, Right.MANAGE_RECORDS)
        .filter(team=team)
        .restricted()
        .select_related("team", "restricted_by")
        .order_by("-restricted_at")
    )
    record_resident_access(
        request, [r.resident_id for r in unanswered + answered] + [r.pk for r in restricted], ResidentAccess.Page.RECORDS
    )
    return render(
        request,
        "caseload/records.html",
        {"team": team, "unanswered": unanswered, "answered": answered, "restricted": restricted, "today": timezone.localdate()},
    )


@require_http_methods(["GET", "POST"])
def subject_access_new(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    resident = resident_for(request, slug, pk, Right.MANAGE_RECORDS)
    form = SubjectAccessRequestForm(request.POST or None, resident=resident, user=request.user)
    if request.method == "POST" and form.is_valid() and form.save():
        messages.success(
            request,
            f"Subject access request logged for {resident.full_name}: answer by {form.request.deadline:%-d %B %Y}.",
        )
        return redirect("caseload:records", resident.team.slug)
    return render(
        request,
        "caseload/change.html",
        {"resident": resident, "form": form, "heading": "Log a subject access request", "button": "Log the request"},
    )


def subject_access_request_for(request: HttpRequest, slug: str, pk: int, *, with_bundle: bool = False) -> SubjectAccessRequest:
    requests = SubjectAccessRequest.objects.visible_to(request.user, Right.MANAGE_RECORDS).select_related("resident__team")
    return object_in_team(
        requests if with_bundle else requests.defer("bundle"),
        user=request.user,
        right=Right.MANAGE_RECORDS,
        slug=slug,
        team="resident__team",
        pk=pk,
    )


@require_POST
def subject_access_produce(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Everything held about the resident, as a PDF and as JSON in one zip, drawn by a worker: a
    resident with years of contacts takes longer to draw than a request may last."""
    sar = subject_access_request_for(request, slug, pk)
    if sar.answered_on is not None:
        messages.error(request, "This request is answered: log a new one to produce the record again.")
    else:
        with transaction.atomic():
            subject_access_bundle_request(request=sar, by=request.user)
        messages.success(request, f"{sar.resident.full_name}'s record is being produced: reload this page in a minute to download it.")
    return redirect("caseload:records", slug)


@require_GET
def subject_access_download(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    sar = subject_access_request_for(request, slug, pk, with_bundle=True)
    if not sar.bundle_ready or sar.bundle is None:
        messages.error(request, "The record is not ready to download: produce it first, or wait a minute and reload.")
        return redirect("caseload:records", slug)
    record_resident_access(request, [sar.resident_id], ResidentAccess.Page.SUBJECT_ACCESS)
    response = HttpResponse(bytes(sar.bundle), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{bundle_file_name(sar)}"'
    return response


@require_POST
def subject_access_answered(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    sar = subject_access_request_for(request, slug, pk)
    try:
        sar.mark_answered(by=request.user)
    except ValidationError as refused:
        messages.error(request, refused.messages[0])
    else:
        messages.success(request, f"The subject access request of {sar.received_on:%-d %B %Y} is marked answered.")
    return redirect("caseload:records", slug)


@require_http_methods(["GET", "POST"])
def restrict(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    resident = resident_for(request, slug, pk, Right.MANAGE_RECORDS)
    return change_page(
        request,
        resident,
        RestrictForm,
        allowed=not resident.is_restricted and not resident.is_retired,
        heading="Restrict the record",
        button="Restrict the record",
        done=lambda r: f"{r.full_name}'s record is restricted: only the coordinator can open it, and it is off suggestions and agendas.",
    )


@require_http_methods(["GET", "POST"])
def lift_restriction(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    resident = resident_for(request, slug, pk, Right.MANAGE_RECORDS)
    return change_page(
        request,
        resident,
        LiftRestrictionForm,
        allowed=resident.is_restricted,
        heading="Lift the restriction",
        button="Lift the restriction",
        done=lambda r: f"The restriction on {r.full_name}'s record is lifted.",
    )


@require_GET
def retention(request: HttpRequest, slug: str) -> HttpResponse:
    """A dry run: the records of the team that the next monthly run would retire, changing nothing."""
    team = team_for(request.user, slug, Right.MANAGE_RECORDS)
    run_on = next_retirement_run()
    due = list(
        Resident.objects.visible_to(request.user, Right.MANAGE_RECORDS)
        .filter(team=team)
        .due_for_retirement(run_on)
        .select_related("team")
        .order_by("closed_on", "pk")
    )
    record_resident_access(request, [r.pk for r in due], ResidentAccess.Page.RECORDS)
    return render(
        request,
        "caseload/retention.html",
        {
            "team": team,
            "run_on": run_on,
            "due": due,
            "years": settings.INT_RETENTION_YEARS,
            "retired_count": Resident.objects.visible_to(request.user).filter(team=team, retired_at__isnull=False).count(),
        },
    )
