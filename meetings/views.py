"""Meeting pages. Every fetch goes through the model's `visible_to(user, right)` by the one rule in
int_app/teams/scoping.py: the address names the team, so someone not in it gets 404 and a member
whose role there lacks the right 403; an object of another team under this team's address is not
found. State changes are POST only; htmx requests get the one partial they swap, other requests a
redirect or the full page."""

from __future__ import annotations

from allauth.account.adapter import get_adapter
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from caseload.access import record_resident_access
from caseload.models import ResidentAccess
from int_app.teams.models import Team, User
from int_app.teams.page_cache import cached_page
from int_app.teams.roles import Right, has_right
from int_app.teams.scoping import object_in_team, team_for
from pressure.services import current_levels

from . import calendar, outcome_summaries, services
from .forms import (
    ActionEditForm,
    ActionForm,
    ActionStatusForm,
    AddendumForm,
    AddResidentForm,
    AgendaItemForm,
    AttendanceForm,
    CancelMeetingForm,
    DecisionForm,
    MoveMeetingForm,
    NotesForm,
    OutcomeForm,
    ReassignActionsForm,
    RemoveItemForm,
    SeriesForm,
    SummaryCorrectionForm,
)
from .models import (
    Action,
    ActionConflict,
    AgendaItem,
    CalendarFeed,
    Decision,
    Meeting,
    MeetingSeries,
    OutcomeSummary,
    TransitionNotAllowed,
    local_today,
)
from .suggestions import agenda_suggestions, resident_search

# --- Scoped fetches: one object of the team the address names ---------------------------------


def _meeting(request: HttpRequest, slug: str, pk: int, right: Right) -> Meeting:
    return object_in_team(
        Meeting.objects.visible_to(request.user, right).select_related("series", "team"),
        user=request.user, right=right, slug=slug, team="team", pk=pk,
    )


def _item(request: HttpRequest, slug: str, pk: int, right: Right) -> AgendaItem:
    return object_in_team(
        AgendaItem.objects.visible_to(request.user, right).select_related("meeting__series", "meeting__team", "resident"),
        user=request.user, right=right, slug=slug, team="meeting__team", pk=pk,
    )


def _action(request: HttpRequest, slug: str, pk: int) -> Action:
    return object_in_team(
        Action.objects.visible_to(request.user, Right.VIEW_CASES).select_related(
            "resident__team", "owner", "agenda_item__meeting"
        ),
        user=request.user, right=Right.VIEW_CASES, slug=slug, team="resident__team", pk=pk,
    )


def _may_change_action(request: HttpRequest, action: Action) -> bool:
    """The owner works their own actions; the coordinator chases and tidies everyone's."""
    team = action.resident.team
    return has_right(request.user, team, Right.BUILD_AGENDA) or (
        action.owner_id == request.user.pk and has_right(request.user, team, Right.OWN_ACTIONS)
    )


def _first_error(form) -> str:
    for errors in form.errors.values():
        return errors[0]
    return "Check the form and try again."


# --- Meetings and series ----------------------------------------------------------------------


@require_GET
def meeting_list(request: HttpRequest) -> HttpResponse:
    teams = list(Team.objects.visible_to(request.user, Right.VIEW_CASES))
    if not teams:
        raise PermissionDenied
    return render(request, "meetings/meeting_list.html", {"teams": services.meeting_list_by_team(teams=teams, user=request.user)})


@require_http_methods(["GET", "POST"])
def series_create(request: HttpRequest, slug: str) -> HttpResponse:
    team = team_for(request.user, slug, Right.BUILD_AGENDA)
    series = MeetingSeries(team=team)
    return _series_form(request, series, created=True)


@require_http_methods(["GET", "POST"])
def series_edit(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    series = object_in_team(
        MeetingSeries.objects.visible_to(request.user, Right.BUILD_AGENDA).select_related("team"),
        user=request.user, right=Right.BUILD_AGENDA, slug=slug, team="team", pk=pk,
    )
    return _series_form(request, series, created=False)


def _series_form(request: HttpRequest, series: MeetingSeries, *, created: bool) -> HttpResponse:
    form = SeriesForm(request.POST or None, instance=series, team=series.team)
    if request.method == "POST" and form.is_valid():
        made = services.series_save(series=form.instance, changed=form.changed_data)
        messages.success(
            request, f"{series.name} saved." + (f" {made} meeting{'s' if made != 1 else ''} scheduled." if made else "")
        )
        return redirect("meetings:meeting_list")
    return render(request, "meetings/series_form.html", {"form": form, "series": series, "team": series.team, "created": created})


@require_http_methods(["GET", "POST"])
def meeting_cancel(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    meeting = _meeting(request, slug, pk, Right.BUILD_AGENDA)
    form = CancelMeetingForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.meeting_cancel(meeting=meeting, reason=form.cleaned_data["reason"])
        except TransitionNotAllowed as refusal:
            messages.error(request, str(refusal))
        else:
            messages.success(request, f"{meeting} is cancelled. Residents on its agenda come back as not reached.")
        return redirect("meetings:meeting_list")
    return render(request, "meetings/meeting_cancel.html", {"meeting": meeting, "form": form})


@require_http_methods(["GET", "POST"])
def meeting_move(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    meeting = _meeting(request, slug, pk, Right.BUILD_AGENDA)
    local = timezone.localtime(meeting.starts_at)
    initial = {"date": local.date(), "start_time": local.time(), "duration_minutes": meeting.duration_minutes}
    form = MoveMeetingForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.meeting_move(
                meeting=meeting, starts_at=form.cleaned_data["starts_at"], duration_minutes=form.cleaned_data["duration_minutes"]
            )
        except TransitionNotAllowed as refusal:
            form.add_error(None, str(refusal))
        else:
            messages.success(request, f"Moved: the meeting is now {meeting}.")
            return redirect("meetings:meeting_list")
    return render(request, "meetings/meeting_move.html", {"meeting": meeting, "form": form})


# --- Building the agenda ----------------------------------------------------------------------


def _agenda_context(request: HttpRequest, meeting: Meeting) -> dict:
    query = request.GET.get("q", "").strip()[:100]
    items = services.agenda_items_with_packs(meeting=meeting)
    total = services.agenda_total_minutes(items)
    # The pressure its residents' practices are under, so the team can weigh what it asks of them.
    practice_pressure = sorted(
        current_levels({item.resident.practice_id for item in items}).values(), key=lambda r: (-r.level, r.practice.name)
    )
    return {
        "meeting": meeting,
        "practice_pressure": practice_pressure,
        "items": items,
        "total_minutes": total,
        "over_time": total > meeting.duration_minutes,
        "over_by": total - meeting.duration_minutes,
        "today": local_today(),
        "presenters": services.presenter_choices(team=meeting.team),
        "suggestion_groups": agenda_suggestions(meeting=meeting) if meeting.agenda_editable else [],
        "query": query,
        "search_results": resident_search(meeting=meeting, query=query) if meeting.agenda_editable else [],
    }


@require_GET
def agenda(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    meeting = _meeting(request, slug, pk, Right.BUILD_AGENDA)
    if request.htmx:
        return render(request, "meetings/agenda.html#agenda", _agenda_context(request, meeting))
    cached = cached_page(request, "agenda")
    if cached.hit:
        record_resident_access(request, cached.shown, ResidentAccess.Page.INFORMATION_PACK)
        return cached.response(request)
    context = _agenda_context(request, meeting)
    _record_packs_shown(request, context["items"], ResidentAccess.Page.INFORMATION_PACK)
    cached.shown = [item.resident_id for item in context["items"]]
    return render(request, "meetings/agenda.html", {**context, "cached_page": cached})


def _back_to_next(request: HttpRequest) -> HttpResponseRedirect | None:
    """Back to the page the form was on (`next`), when that is a page of this site."""
    next_url = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return HttpResponseRedirect(next_url)  # not redirect(), which reads a bare word as a view's name
    return None


def _record_packs_shown(request: HttpRequest, items, page: str) -> None:
    """Information packs hold residents' records: each opening of the agenda, the meeting screen
    or the printout is in every listed resident's access log. (htmx refreshes of a page already
    open are not new openings.)"""
    record_resident_access(request, [item.resident_id for item in items], page)


def _agenda_changed(request: HttpRequest, meeting: Meeting) -> HttpResponse:
    if request.htmx:
        meeting.refresh_from_db()
        return render(request, "meetings/agenda.html#agenda", _agenda_context(request, meeting))
    return redirect("meetings:agenda", meeting.team.slug, meeting.pk)


@require_POST
def agenda_add(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    meeting = _meeting(request, slug, pk, Right.BUILD_AGENDA)
    form = AddResidentForm(request.POST, meeting=meeting)
    if not form.is_valid():
        messages.error(request, _first_error(form))
        return _agenda_changed(request, meeting)
    resident = form.cleaned_data["resident"]
    try:
        services.agenda_item_add(meeting=meeting, resident=resident, reason=form.cleaned_data["reason"], by=request.user)
    except TransitionNotAllowed as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"{resident} added to the agenda.")
    return _agenda_changed(request, meeting)


@require_POST
def agenda_reorder(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    meeting = _meeting(request, slug, pk, Right.BUILD_AGENDA)
    try:
        order = [int(part) for part in request.POST.get("order", "").split(",") if part.strip()]
        services.agenda_reorder(meeting=meeting, item_ids=order)
    except ValueError:
        messages.error(request, "The new order could not be read: reload the page and try again.")
    except TransitionNotAllowed as refusal:
        messages.error(request, str(refusal))
    return _agenda_changed(request, meeting)


@require_POST
def item_update(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    item = _item(request, slug, pk, Right.BUILD_AGENDA)
    form = AgendaItemForm(request.POST, instance=item, presenters=services.presenter_choices(team=item.meeting.team))
    if not form.is_valid():
        messages.error(request, f"{item.resident}: {_first_error(form)}")
        return _agenda_changed(request, item.meeting)
    try:
        services.agenda_item_update(
            item=item, minutes=form.cleaned_data["minutes"], presenter=form.cleaned_data["presenter"]
        )
    except TransitionNotAllowed as refusal:
        messages.error(request, str(refusal))
    return _agenda_changed(request, item.meeting)


@require_POST
def item_move(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    item = _item(request, slug, pk, Right.BUILD_AGENDA)
    direction = request.POST.get("direction")
    if direction not in {"up", "down"}:
        messages.error(request, "Move an item up or down.")
        return _agenda_changed(request, item.meeting)
    try:
        services.agenda_item_move(item=item, direction=direction)
    except TransitionNotAllowed as refusal:
        messages.error(request, str(refusal))
    return _agenda_changed(request, item.meeting)


@require_POST
def agenda_remove(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    meeting = _meeting(request, slug, pk, Right.BUILD_AGENDA)
    # The item is named in the form, not the address: a second click on a removed item (two tabs,
    # a double tap) gets a message rather than "not found".
    form = RemoveItemForm(request.POST, meeting=meeting)
    if not form.is_valid():
        messages.error(request, "That resident is no longer on the agenda.")
        return _agenda_changed(request, meeting)
    item = form.cleaned_data["item"]
    try:
        services.agenda_item_remove(item=item)
    except TransitionNotAllowed as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"{item.resident} removed from the agenda.")
    return _agenda_changed(request, meeting)


@require_http_methods(["GET", "POST"])
def agenda_publish(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    meeting = _meeting(request, slug, pk, Right.BUILD_AGENDA)
    if request.method == "POST":
        try:
            services.agenda_publish(meeting=meeting, by=request.user)
        except TransitionNotAllowed as refusal:
            messages.error(request, str(refusal))
            return redirect("meetings:agenda", meeting.team.slug, meeting.pk)
        messages.success(request, "Agenda published. The team is being emailed; the order is now fixed.")
        return redirect("meetings:agenda", meeting.team.slug, meeting.pk)
    items = services.agenda_items_with_packs(meeting=meeting)
    total = services.agenda_total_minutes(items)
    return render(
        request,
        "meetings/agenda_publish.html",
        {"meeting": meeting, "items": items, "total_minutes": total, "late": meeting.publishing_is_late(), "today": local_today()},
    )


@require_GET
def agenda_print(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    meeting = _meeting(request, slug, pk, Right.VIEW_CASES)
    items = services.agenda_items_with_packs(meeting=meeting)
    _record_packs_shown(request, items, ResidentAccess.Page.EXPORT)
    return render(
        request,
        "meetings/agenda_print.html",
        {"meeting": meeting, "items": items, "total_minutes": services.agenda_total_minutes(items), "today": local_today()},
    )


# --- The meeting ------------------------------------------------------------------------------


def _meeting_context(request: HttpRequest, meeting: Meeting, *, item_ids: list[int] | None = None) -> dict:
    can_record = has_right(request.user, meeting.team, Right.BUILD_AGENDA) and meeting.can_record
    items = services.agenda_items_with_packs(meeting=meeting, with_record=True, item_ids=item_ids)
    context = {
        "meeting": meeting,
        "items": items,
        "can_record": can_record,
        "can_build": has_right(request.user, meeting.team, Right.BUILD_AGENDA),
        "can_sign": has_right(request.user, meeting.team, Right.SIGN_CLINICAL_DECISIONS),
        "now": timezone.now(),
        "today": local_today(),
        "next_url": reverse("meetings:meeting", args=[meeting.team.slug, meeting.pk]),
        "polling": meeting.agenda_published and not meeting.minutes_published and meeting.status != Meeting.Status.CANCELLED,
    }
    if can_record:
        owners = services.action_owner_choices(team=meeting.team)
        for item in items:
            item.notes_form = NotesForm(initial={"notes": item.notes}, prefix=f"notes-{item.pk}")
            item.decision_form = DecisionForm(prefix=f"decision-{item.pk}")
            item.action_form = ActionForm(resident=item.resident, owners=owners, prefix=f"action-{item.pk}")
    if item_ids is None:
        context["attendance"] = services.attendance_rows(meeting=meeting, with_forms=can_record)
        if context["can_build"] and meeting.minutes_published:
            context["outcome_summaries"] = outcome_summaries.outcome_summaries_for_meeting(meeting=meeting)
        context["without_outcome"] = [item for item in items if item.discussed_without_decision_or_action]
    return context


@require_GET
def meeting_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """The meeting screen: the coordinator records on it; everyone else watches it update."""
    meeting = _meeting(request, slug, pk, Right.VIEW_CASES)
    if request.htmx:
        # Attendees' screens poll: "nothing new" costs one query and no rendering.
        if request.GET.get("since") == str(meeting.version):
            return HttpResponse(status=204)
        return render(request, "meetings/meeting.html#live", _meeting_context(request, meeting))
    context = _meeting_context(request, meeting)
    _record_packs_shown(request, context["items"], ResidentAccess.Page.INFORMATION_PACK)
    return render(request, "meetings/meeting.html", context)


def _item_changed(request: HttpRequest, item: AgendaItem, *, also: list[int] = ()) -> HttpResponse:
    """The item's card again; `also` names other items the change touched (a clock stopped when
    another started), whose cards come along out of band so their warnings show at once."""
    if request.htmx:
        meeting = Meeting.objects.visible_to(request.user).select_related("series", "team").get(pk=item.meeting_id)
        context = _meeting_context(request, meeting, item_ids=[item.pk, *also])
        cards = {card.pk: card for card in context["items"]}
        if item.pk not in cards:
            return redirect("meetings:meeting", meeting.team.slug, meeting.pk)
        response = render(request, "meetings/meeting.html#item", {**context, "item": cards.pop(item.pk)})
        for other in cards.values():
            response.write(render_to_string("meetings/meeting.html#item", {**context, "item": other, "oob": True}, request=request))
        return response
    return redirect(f"{reverse('meetings:meeting', args=[item.meeting.team.slug, item.meeting_id])}#item-{item.pk}")


@require_POST
def attendance(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    meeting = _meeting(request, slug, pk, Right.BUILD_AGENDA)
    rows = services.attendance_rows(meeting=meeting, with_forms=False)
    forms = [AttendanceForm(request.POST, instance=row, prefix=f"attendance-{row.pk}") for row in rows]
    if all(form.is_valid() for form in forms):
        try:
            services.attendance_record(
                meeting=meeting,
                rows=[(form.instance, form.cleaned_data["status"], form.cleaned_data["deputy_name"]) for form in forms],
            )
        except TransitionNotAllowed as refusal:
            messages.error(request, str(refusal))
        else:
            messages.success(request, "Attendance saved.")
    else:
        messages.error(request, next(_first_error(form) for form in forms if form.errors))
        # Nothing was saved: show what was entered, with the errors beside it.
        for row, form in zip(rows, forms, strict=True):
            row.form = form
    if request.htmx:
        meeting.refresh_from_db()
        if not any(form.errors for form in forms):
            rows = services.attendance_rows(meeting=meeting, with_forms=True)
        return render(
            request, "meetings/meeting.html#attendance", {"meeting": meeting, "attendance": rows, "can_record": meeting.can_record}
        )
    return redirect(f"{reverse('meetings:meeting', args=[meeting.team.slug, meeting.pk])}#attendance")


@require_POST
def item_notes(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    item = _item(request, slug, pk, Right.BUILD_AGENDA)
    form = NotesForm(request.POST, prefix=f"notes-{item.pk}")
    if form.is_valid():
        try:
            item.record_notes(form.cleaned_data["notes"])
        except TransitionNotAllowed as refusal:
            messages.error(request, str(refusal))
        else:
            messages.success(request, f"Notes saved for {item.resident}.")
    return _item_changed(request, item)


@require_POST
def item_outcome(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    item = _item(request, slug, pk, Right.BUILD_AGENDA)
    form = OutcomeForm(request.POST)
    if not form.is_valid():
        messages.error(request, _first_error(form))
        return _item_changed(request, item)
    try:
        item.set_outcome(form.cleaned_data["outcome"])
    except TransitionNotAllowed as refusal:
        messages.error(request, str(refusal))
    return _item_changed(request, item)


@require_POST
def item_timer(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    item = _item(request, slug, pk, Right.BUILD_AGENDA)
    start = request.POST.get("timer") == "start"
    # Starting one clock stops any other on the server: those cards come back too, with their
    # warning if that discussion ended with nothing decided.
    running = list(item.meeting.items.filter(timer_started_at__isnull=False).exclude(pk=item.pk).values_list("pk", flat=True)) if start else []
    try:
        services.item_timer_toggle(item=item, start=start)
    except TransitionNotAllowed as refusal:
        messages.error(request, str(refusal))
        running = []
    return _item_changed(request, item, also=running)


@require_POST
def decision_add(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    item = _item(request, slug, pk, Right.BUILD_AGENDA)
    form = DecisionForm(request.POST, prefix=f"decision-{item.pk}")
    if not form.is_valid():
        messages.error(request, f"{item.resident}: {_first_error(form)}")
        return _item_changed(request, item)
    try:
        decision = services.decision_record(
            item=item, text=form.cleaned_data["text"], is_clinical=form.cleaned_data["is_clinical"], by=request.user
        )
    except TransitionNotAllowed as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(
            request,
            "Clinical decision recorded: provisional until the GP signs it off." if decision.is_clinical else "Decision recorded.",
        )
    return _item_changed(request, item)


@require_POST
def action_add(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    item = _item(request, slug, pk, Right.BUILD_AGENDA)
    form = ActionForm(
        request.POST, resident=item.resident, owners=services.action_owner_choices(team=item.meeting.team), prefix=f"action-{item.pk}"
    )
    if not form.is_valid():
        messages.error(request, f"{item.resident}: {_first_error(form)}")
        return _item_changed(request, item)
    try:
        action = services.action_create(
            item=item,
            resident=item.resident,
            description=form.cleaned_data["description"],
            owner=form.cleaned_data["owner"],
            due_date=form.cleaned_data["due_date"],
            by=request.user,
        )
    except (TransitionNotAllowed, ValidationError) as refusal:
        messages.error(request, refusal.messages[0] if isinstance(refusal, ValidationError) else str(refusal))
    else:
        messages.success(request, f"Action for {action.owner}, due {action.due_date:%-d %b %Y}.")
    return _item_changed(request, item)


@require_POST
def decision_sign(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    decision = object_in_team(
        Decision.objects.visible_to(request.user, Right.SIGN_CLINICAL_DECISIONS).select_related(
            "agenda_item__meeting__team", "agenda_item__resident"
        ),
        user=request.user, right=Right.SIGN_CLINICAL_DECISIONS, slug=slug, team="agenda_item__meeting__team", pk=pk,
    )
    try:
        services.decision_sign(decision=decision, by=request.user)
    except TransitionNotAllowed as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"Signed off: {decision}.")
    meeting = decision.agenda_item.meeting
    if request.htmx:
        decision.refresh_from_db()
        return render(
            request,
            "meetings/meeting.html#decision",
            {"decision": decision, "meeting": meeting, "can_sign": True, "show_messages": True},
        )
    return _back_to_next(request) or redirect("meetings:meeting", meeting.team.slug, meeting.pk)


@require_POST
def meeting_end(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    meeting = _meeting(request, slug, pk, Right.BUILD_AGENDA)
    try:
        not_reached = meeting.end()
    except TransitionNotAllowed as refusal:
        messages.error(request, str(refusal))
        return redirect("meetings:meeting", meeting.team.slug, meeting.pk)
    messages.success(
        request,
        "Meeting ended."
        + (f" {not_reached} item{'s' if not_reached != 1 else ''} not reached will be suggested for the next meeting." if not_reached else ""),
    )
    return redirect("meetings:minutes", meeting.team.slug, meeting.pk)


# --- Minutes ----------------------------------------------------------------------------------


@require_GET
def minutes(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    meeting = _meeting(request, slug, pk, Right.VIEW_CASES)
    items = services.agenda_items_with_packs(meeting=meeting, with_record=True, with_packs=False)
    return render(
        request,
        "meetings/minutes.html",
        {
            "meeting": meeting,
            "items": [item for item in items if item.outcome == AgendaItem.Outcome.DISCUSSED],
            "not_reached": [item for item in items if item.outcome != AgendaItem.Outcome.DISCUSSED],
            "attendance": services.attendance_rows(meeting=meeting, with_forms=False),
            "addenda": meeting.addenda.select_related("author"),
            "can_build": has_right(request.user, meeting.team, Right.BUILD_AGENDA),
        },
    )


@require_POST
def minutes_publish(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    meeting = _meeting(request, slug, pk, Right.BUILD_AGENDA)
    try:
        services.minutes_publish(meeting=meeting, by=request.user)
    except TransitionNotAllowed as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, "Minutes published and locked. The team is being emailed.")
    return redirect("meetings:minutes", meeting.team.slug, meeting.pk)


@require_http_methods(["GET", "POST"])
def minutes_addendum(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    meeting = _meeting(request, slug, pk, Right.BUILD_AGENDA)
    form = AddendumForm(request.POST or None, meeting=meeting)
    if request.method == "POST" and form.is_valid():
        chosen = list(form.cleaned_data["correct_summaries_of"])
        try:
            services.minutes_addendum_add(
                meeting=meeting, text=form.cleaned_data["text"], by=request.user, correct_summaries_of=chosen
            )
        except TransitionNotAllowed as refusal:
            messages.error(request, str(refusal))
        else:
            corrected = f" A corrected outcome summary goes to the practice of {', '.join(str(item.resident) for item in chosen)}." if chosen else ""
            messages.success(request, "Addendum added to the minutes." + corrected)
        return redirect("meetings:minutes", meeting.team.slug, meeting.pk)
    return render(request, "meetings/minutes_addendum.html", {"meeting": meeting, "form": form})


# --- Outcome summaries to the GP practices ----------------------------------------------------


def _outcome_summary(request: HttpRequest, slug: str, pk: int) -> OutcomeSummary:
    """The coordinator's: whoever publishes the minutes and corrects them sends the summaries."""
    return object_in_team(
        OutcomeSummary.objects.visible_to(request.user, Right.BUILD_AGENDA).select_related(
            "meeting__series", "meeting__team", "resident", "practice", "agenda_item", "created_by", "supersedes"
        ),
        user=request.user, right=Right.BUILD_AGENDA, slug=slug, team="meeting__team", pk=pk,
    )


@require_GET
def outcome_summary(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """The summary as the practice reads it, with where it went, every version, and what can be done."""
    summary = _outcome_summary(request, slug, pk)
    record_resident_access(request, [summary.resident_id], ResidentAccess.Page.OUTCOME_SUMMARY)
    versions = summary.agenda_item.outcome_summaries.select_related("practice").defer("pdf", "content").order_by("-version")
    # A GP's sign-off after the summary was made is news for the practice: say so beside it.
    signed_since = (
        summary.agenda_item.decisions.filter(signed_at__gt=summary.created_at).select_related("signed_by")
        if summary.is_current
        else []
    )
    return render(
        request,
        "meetings/outcome_summary.html",
        {"summary": summary, "content": summary.content, "meeting": summary.meeting, "versions": versions, "signed_since": signed_since},
    )


@require_GET
def outcome_summary_pdf(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """The PDF as it was kept (drawn now from the same words if the worker has not drawn it yet),
    shown in the browser, or downloaded with ?download=1."""
    summary = _outcome_summary(request, slug, pk)
    record_resident_access(request, [summary.resident_id], ResidentAccess.Page.OUTCOME_SUMMARY)
    content = bytes(summary.pdf) or outcome_summaries.outcome_summary_pdf(summary=summary)
    response = HttpResponse(content, content_type="application/pdf")
    disposition = "attachment" if request.GET.get("download") == "1" else "inline"
    response["Content-Disposition"] = f'{disposition}; filename="{summary.filename}"'
    return response


@require_POST
def outcome_summary_send(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    summary = _outcome_summary(request, slug, pk)
    try:
        outcome_summaries.outcome_summary_send_again(summary=summary)
    except TransitionNotAllowed as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"Sending the summary to {summary.practice} again.")
    return redirect("meetings:outcome_summary", summary.meeting.team.slug, summary.pk)


@require_http_methods(["GET", "POST"])
def outcome_summary_correct(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """A corrected summary from the record as it is now, marked as an addendum: after a GP signed
    off a decision, say, or when the practice needs it again."""
    summary = _outcome_summary(request, slug, pk)
    form = SummaryCorrectionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            corrected = outcome_summaries.outcome_summary_correct(
                agenda_item=summary.agenda_item, correction=form.cleaned_data["correction"], by=request.user
            )
        except TransitionNotAllowed as refusal:
            form.add_error(None, str(refusal))
        else:
            messages.success(request, f"Corrected summary (version {corrected.version}) made: it goes to {corrected.practice} as an addendum.")
            return redirect("meetings:outcome_summary", slug, corrected.pk)
    return render(request, "meetings/outcome_summary_correct.html", {"summary": summary, "meeting": summary.meeting, "form": form})


# --- Actions ----------------------------------------------------------------------------------


@require_GET
def my_actions(request: HttpRequest) -> HttpResponse:
    if not request.user.memberships_with_right(Right.OWN_ACTIONS):
        raise PermissionDenied
    cached = cached_page(request, "my_actions")
    if cached.hit:
        return cached.response(request)
    groups = services.my_actions(user=request.user)
    for action in groups.overdue + groups.this_week + groups.later:
        action.status_form = ActionStatusForm(action=action, initial={"version": action.version})
        action.may_change = True
    return render(request, "meetings/my_actions.html", {"groups": groups, "today": local_today(), "cached_page": cached})


@require_GET
def action_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    action = _action(request, slug, pk)
    action.may_change = _may_change_action(request, action)
    action.status_form = ActionStatusForm(action=action, initial={"version": action.version})
    return render(
        request,
        "meetings/action_detail.html",
        {"action": action, "updates": action.updates.select_related("author"), "today": local_today()},
    )


def _action_card(request: HttpRequest, action: Action, form: ActionStatusForm, *, conflict: ActionConflict | None = None, status: int = 200) -> HttpResponse:
    action.status_form = form
    action.may_change = True
    context = {"action": action, "conflict": conflict, "today": local_today(), "show_messages": True}
    if request.htmx:
        return render(request, "meetings/my_actions.html#action_card", context)
    context["updates"] = action.updates.select_related("author")
    return render(request, "meetings/action_detail.html", context, status=status)


@require_POST
def action_status(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    action = _action(request, slug, pk)
    if not _may_change_action(request, action):
        raise PermissionDenied
    form = ActionStatusForm(request.POST, action=action)
    if not form.is_valid():
        return _action_card(request, action, form)
    try:
        action.change_status(
            to=form.cleaned_data["to"],
            by=request.user,
            comment=form.cleaned_data["comment"],
            expected_version=form.cleaned_data["version"],
        )
    except ActionConflict as conflict:
        theirs = conflict.theirs
        fresh = ActionStatusForm(action=theirs, initial={"version": theirs.version, "comment": form.cleaned_data["comment"]})
        theirs.last_update = theirs.updates.select_related("author").last()
        return _action_card(request, theirs, fresh, conflict=conflict, status=409)
    except TransitionNotAllowed as refusal:
        form.add_error(None, str(refusal))
        return _action_card(request, action, form)
    messages.success(request, f"Action marked {action.get_status_display().lower()}.")
    if request.htmx:
        return _action_card(request, action, ActionStatusForm(action=action, initial={"version": action.version}))
    return _back_to_next(request) or redirect("meetings:action", action.resident.team.slug, action.pk)


@require_http_methods(["GET", "POST"])
def action_edit(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    action = _action(request, slug, pk)
    if not _may_change_action(request, action):
        raise PermissionDenied
    initial = {"description": action.description, "owner": action.owner_id, "due_date": action.due_date, "version": action.version}
    form = ActionEditForm(request.POST or None, action=action, initial=initial)
    conflict = None
    if request.method == "POST" and form.is_valid():
        try:
            action.edit(
                by=request.user,
                description=form.cleaned_data["description"],
                owner=form.cleaned_data["owner"],
                due_date=form.cleaned_data["due_date"],
                comment=form.cleaned_data["comment"],
                expected_version=form.cleaned_data["version"],
            )
        except ActionConflict as refused:
            conflict = refused
            theirs = refused.theirs
            # A fresh form on their version, keeping what this person typed, so they can re-apply it.
            form = ActionEditForm(
                action=theirs,
                initial={**form.cleaned_data, "owner": form.cleaned_data["owner"].pk, "version": theirs.version},
            )
            action = theirs
        except TransitionNotAllowed as refusal:
            form.add_error(None, str(refusal))
        else:
            messages.success(request, "Action updated.")
            return redirect("meetings:action", action.resident.team.slug, action.pk)
    return render(
        request,
        "meetings/action_edit.html",
        {"action": action, "form": form, "conflict": conflict},
        status=409 if conflict else 200,
    )


@require_GET
def decisions_awaiting(request: HttpRequest) -> HttpResponse:
    if not request.user.memberships_with_right(Right.SIGN_CLINICAL_DECISIONS):
        raise PermissionDenied
    decisions = (
        Decision.objects.visible_to(request.user, Right.SIGN_CLINICAL_DECISIONS)
        .awaiting_sign_off()
        .select_related("agenda_item__meeting__series", "agenda_item__meeting__team", "agenda_item__resident", "recorded_by")
        .order_by("recorded_at")
    )
    return render(request, "meetings/decisions_awaiting.html", {"decisions": decisions, "can_sign": True})



@require_http_methods(["GET", "POST"])
def reassign_actions(request: HttpRequest, slug: str, user_id: int) -> HttpResponse:
    """A person's open actions in the team, handed on in one form: after their account is switched
    off (the coordinator is emailed the link), or when they leave the team."""
    team = team_for(request.user, slug, Right.BUILD_AGENDA)
    person = User.objects.filter(pk=user_id).filter(
        Q(memberships__team=team) | Q(actions__resident__team=team, actions__status__in=Action.Status.open_values())
    ).distinct().first()
    if person is None:
        raise Http404("No such person in this team.")
    actions = services.actions_to_reassign(team=team, owner=person)
    form = ReassignActionsForm(request.POST or None, actions=actions, owners=services.new_owner_choices(team=team, leaving=person))
    conflict = None
    if request.method == "POST" and form.is_valid():
        try:
            handed_on = services.actions_reassign(assignments=form.assignments, by=request.user)
        except ActionConflict as refused:
            conflict = refused
            # The page again on what is saved now, so the coordinator sees the change and chooses again.
            actions = services.actions_to_reassign(team=team, owner=person)
            form = ReassignActionsForm(actions=actions, owners=services.new_owner_choices(team=team, leaving=person))
        except ValidationError as refusal:
            form.add_error(None, refusal.messages[0])
        else:
            messages.success(request, f"{handed_on} action{'s' if handed_on != 1 else ''} of {person.full_name} handed on.")
            return redirect("meetings:reassign_actions", team.slug, person.pk)
    return render(
        request,
        "meetings/reassign_actions.html",
        {"team": team, "person": person, "form": form, "conflict": conflict},
        status=409 if conflict else 200,
    )


# --- Calendars --------------------------------------------------------------------------------


def _calendar_member(request: HttpRequest) -> None:
    """The feed holds the meetings of the teams where the person takes part in case discussions."""
    if not request.user.memberships_with_right(Right.VIEW_CASES):
        raise PermissionDenied


@require_GET
def calendar_page(request: HttpRequest) -> HttpResponse:
    _calendar_member(request)
    feed = CalendarFeed.of(request.user)
    feed_url = services.site_url(reverse("meetings:calendar_feed", args=[feed.token]))
    return render(request, "meetings/calendar.html", {"feed": feed, "feed_url": feed_url})


@require_POST
def calendar_reset(request: HttpRequest) -> HttpResponse:
    _calendar_member(request)
    CalendarFeed.of(request.user).reset()
    messages.success(request, "You have a new calendar address. The old one no longer works: subscribe to the new one.")
    return redirect("meetings:calendar")


@login_not_required
@require_GET
@never_cache
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    """The member's meetings as iCalendar, for calendar apps, which send no session: the secret
    address is the key. Unknown addresses are not found, and a client that keeps guessing is
    refused for a while."""
    client_ip = get_adapter(request).get_client_ip(request)
    if calendar.client_refused(client_ip):
        return HttpResponse("Too many requests for unknown calendar addresses.", status=429, content_type="text/plain")
    feed = CalendarFeed.objects.for_token(token).select_related("user").first()
    if feed is None:
        calendar.record_miss(client_ip)
        raise Http404("No such calendar.")
    if not calendar.fetch_allowed(feed.pk):
        response = HttpResponse("This calendar was fetched too often: try again within the hour.", status=429, content_type="text/plain")
        response["Retry-After"] = "3600"
        return response
    response = HttpResponse(calendar.feed_ics(feed.user), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="int-meetings.ics"'
    return response
