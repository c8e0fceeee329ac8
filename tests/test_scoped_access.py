"""Team data is reached only through each model's `visible_to(user, right=None)`, and a right is
judged in each team by the person's role there.

The team-owned models are found, not listed: every model with a path of forward relations to a
team (and a neighbourhood's one team), not through a person, who may belong to several teams.
"""

import ast
import datetime as dt
import importlib
import inspect
from collections import deque
from pathlib import Path

import pghistory.models
import pytest
import time_machine
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, models
from django.utils import timezone

from caseload.models import (
    Goal,
    ImportJob,
    Intervention,
    PlannedIntervention,
    PopulationPerson,
    Resident,
    ResidentAccess,
    ResidentEvent,
    ServiceUseEvent,
    SubjectAccessRequest,
)
from caseload.population import population_load_unchecked
from int_app.teams.invitations import Invitee, invitation_create
from int_app.teams.models import Membership, PCNMembership, Team
from int_app.teams.roles import Right, Role
from kpis.matching import population_histories_update
from kpis.models import KpiRun, MatchedBalance, MatchedEpisode, MatchedPair, ResidentMatch, ResidentUsage, ResidentWindow
from meetings.models import Attendance, MinutesAddendum, OutcomeSummary
from pressure.models import PressureAlert, PressureReport, PressureReportChange

from .caseload.factories import active
from .caseload.population_builders import extract_rows
from .factories import OrganisationFactory, UserFactory, make_team
from .meetings.factories import add_item, make_action, make_meeting, record_decision, service_use

ROOT = Path(settings.BASE_DIR)

# Unscoped manager uses a view may keep, each with the reason. Key: (views file, "Model.objects.attr").
ALLOWED_UNSCOPED: dict[tuple[str, str], str] = {}


def team_path(model: type[models.Model]) -> str | None:
    """The shortest lookup from the model to its team ("pk" for Team itself), or None."""
    team_model, user_model = Team, get_user_model()
    queue: deque[tuple[type[models.Model], str]] = deque([(model, "")])
    seen = {model}
    while queue:
        current, path = queue.popleft()
        if current is team_model:
            return path or "pk"
        for field in current._meta.get_fields():
            forward = field.is_relation and not field.auto_created
            neighbourhoods_team = field.one_to_one and field.auto_created and not field.concrete
            if not (forward or neighbourhoods_team) or field.related_model in (None, user_model):
                continue
            if field.related_model not in seen:
                seen.add(field.related_model)
                queue.append((field.related_model, f"{path}__{field.name}" if path else field.name))
    return None


def team_owned_models() -> dict[type[models.Model], str]:
    # History rows (django-pghistory) are read only in the admin, which scopes them to the staff
    # member's teams; they have no manager of ours to give a visible_to.
    return {
        model: path
        for model in apps.get_models()
        if not issubclass(model, pghistory.models.Event) and (path := team_path(model)) is not None
    }


def scoped_models() -> set[type[models.Model]]:
    """What a view must reach through visible_to: the team-owned models and any other model
    whose queryset decides visibility (KPI figures)."""
    return set(team_owned_models()) | {
        model for model in apps.get_models() if hasattr(model._default_manager, "visible_to")
    }


def view_modules() -> list[Path]:
    """The views.py of every app of ours (installed apps under the project's root, not the
    packages installed in its .venv), and of the packages inside them (int_app/teams/cis2/)."""
    ours = [
        Path(config.path)
        for config in apps.get_app_configs()
        if Path(config.path).is_relative_to(ROOT) and "site-packages" not in Path(config.path).parts
    ]
    return sorted({views for app in ours for views in app.rglob("views.py") if "migrations" not in views.parts})


def unscoped_fetches(source: str, module: str) -> list[tuple[int, str]]:
    """(line, "Model.objects.attr") for every use of a scoped model's manager other than
    `visible_to` (and every get_object_or_404(Model, ...)), in the source of a module named `module`."""
    scoped = scoped_models()
    names: dict[str, type[models.Model]] = {}
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            package = module.rsplit(".", node.level)[0] if node.level else ""
            source_module = ".".join(part for part in (package, node.module or "") if part)
            for alias in node.names:
                imported = getattr(importlib.import_module(source_module), alias.name, None)
                if isinstance(imported, type) and imported in scoped:
                    names[alias.asname or alias.name] = imported
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in names):
            continue
        if node.attr in ("objects", "_default_manager", "_base_manager"):
            parent_attr = next(
                (
                    outer.attr
                    for outer in ast.walk(tree)
                    if isinstance(outer, ast.Attribute) and outer.value is node
                ),
                None,
            )
            if parent_attr != "visible_to":
                found.append((node.lineno, f"{node.value.id}.{node.attr}.{parent_attr or ''}".rstrip(".")))
    # get_object_or_404(Model, ...) fetches through the default manager too.
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("get_object_or_404", "get_list_or_404")
            and node.args
            and isinstance(node.args[0], ast.Name)
            and node.args[0].id in names
        ):
            found.append((node.lineno, f"{node.func.id}({node.args[0].id})"))
    return sorted(found)


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def test_the_check_finds_a_view_that_fetches_around_visible_to():
    assert {module_name(path) for path in view_modules()} >= {
        "caseload.views", "pressure.views", "meetings.views", "kpis.views", "int_app.home.views", "int_app.teams.views"
    }
    source = (
        "from caseload.models import Resident as R\n"
        "from .models import Meeting\n"
        "def page(request, pk):\n"
        "    R.objects.visible_to(request.user).get(pk=pk)\n"
        "    Meeting.objects.get(pk=pk)\n"
        "    R.objects.filter(pk=pk)\n"
        "    get_object_or_404(Meeting, pk=pk)\n"
        "    return R.objects\n"
    )
    assert unscoped_fetches(source, "meetings.views") == [
        (5, "Meeting.objects.get"),
        (6, "R.objects.filter"),
        (7, "get_object_or_404(Meeting)"),
        (8, "R.objects"),
    ]


@pytest.mark.parametrize("path", view_modules(), ids=module_name)
def test_views_reach_team_data_only_through_visible_to(path):
    relative = str(path.relative_to(ROOT))
    fetches = [
        f"{relative}:{line} {use}"
        for line, use in unscoped_fetches(path.read_text(), module_name(path))
        if (relative, use) not in ALLOWED_UNSCOPED
    ]
    assert fetches == [], "fetch through Model.objects.visible_to(request.user, ...) instead"


def test_the_team_owned_models_are_found():
    found = team_owned_models()
    assert found[Team] == "pk"
    assert found[Resident] == "team"
    assert found[PressureReport] == "practice__pcn__neighbourhood__team"
    assert found[ImportJob] == "teams"
    assert found[MinutesAddendum] == "meeting__team"


@pytest.mark.parametrize("model", sorted(team_owned_models(), key=lambda m: m._meta.label), ids=lambda m: m._meta.label)
def test_every_team_owned_model_has_visible_to_with_a_right(model):
    queryset_class = type(model._default_manager.all())
    assert hasattr(queryset_class, "visible_to"), f"{model._meta.label} needs a QuerySet with visible_to"
    parameters = inspect.signature(queryset_class.visible_to).parameters
    assert list(parameters)[:3] == ["self", "user", "right"]
    assert parameters["right"].default is None


# Models seen only by the case roles of the team, as a resident is: a PCN lead sees none of them.
CASE_SCOPED = {Resident, ResidentEvent, Goal, PlannedIntervention, ServiceUseEvent, Intervention}


def one_row_of_each(team: Team) -> None:
    """One row of every team-owned model in this team, made as the app makes them."""
    coordinator = team.memberships.get(role=Role.COORDINATOR).user
    resident = active(team)  # its journey writes ResidentEvent rows
    intervention = Intervention.objects.create(team=team, name="Chair exercise", provider="Age UK", category="activity", contact="01234")
    resident.add_goal(text="Walk to the shop", by=coordinator)
    resident.choose_interventions([intervention], by=coordinator)
    service_use(resident, ServiceUseEvent.Kind.AE_ATTENDANCE, days_ago=10)
    ImportJob.objects.create(file_name="extract.csv", uploaded_by=coordinator).teams.set([team])
    meeting = make_meeting(team, days_ahead=-1, published=True)
    assert Attendance.objects.filter(meeting=meeting).exists()
    item = add_item(meeting, resident)
    record_decision(item)
    make_action(resident, item=item)  # and its first ActionUpdate
    MinutesAddendum.objects.create(meeting=meeting, text="Correction", author=coordinator)
    OutcomeSummary.objects.create(meeting=meeting, agenda_item=item, resident=resident, practice=resident.practice, content={}, created_by=coordinator)
    practice = team.neighbourhood.pcns.get().practices.first()
    PCNMembership.objects.create(practice=practice, pcn=practice.pcn, started_on=dt.date(2019, 7, 1))
    report = PressureReport.objects.create(practice=practice, week_start=dt.date(2026, 3, 9), level=5, reported_by=coordinator)
    PressureReportChange.objects.create(report=report, level=5, changed_by=coordinator)
    PressureAlert.objects.create(report=report, level=5)
    start = resident.intervention_start
    ResidentWindow.objects.create(
        resident=resident, cohort="intervention", start=start, baseline_start=start - dt.timedelta(days=90),
        followup_end=start + dt.timedelta(days=90), cohort_month=start.replace(day=1), complete=False,
        team=team, pcn=practice.pcn, neighbourhood=team.neighbourhood, place=team.neighbourhood.place,
    )
    ResidentUsage.objects.create(resident=resident)
    ResidentAccess.objects.create(user=coordinator, resident=resident, page="resident", path="/x", at=timezone.now())
    invitation_create(
        invitee=Invitee(
            email=f"invited@{team.slug}.test", given_name="In", family_name="Vited", team=team,
            role=Role.GP, organisation=OrganisationFactory(),
        ),
        by=coordinator,
    )
    SubjectAccessRequest.log(resident=resident, received_on=dt.date(2026, 3, 2), by=coordinator)
    population_load_unchecked(team=team, rows=extract_rows(team), file_name="population.csv")  # people and contacts
    with connection.cursor() as cursor:
        population_histories_update(cursor)  # their histories, as the KPI run builds them
    run = KpiRun.objects.create(as_of=dt.date(2026, 3, 9), window_months=6)  # the matched comparison's rows
    person = PopulationPerson.objects.filter(extract__team=team).first()
    MatchedPair.objects.create(run=run, resident=resident, rank=1, comparison=person)
    ResidentMatch.objects.create(resident=resident, inputs="0" * 32, comparisons=[person.pk])
    MatchedEpisode.objects.create(resident=resident, nhs_number=resident.nhs_number, referral_date=resident.referral_date)
    MatchedBalance.objects.create(run=run, team=team, variable="age")


@pytest.mark.django_db
@time_machine.travel(dt.datetime(2026, 3, 10, 10, 0, tzinfo=dt.UTC), tick=False)
def test_a_right_held_in_one_team_never_reaches_the_other():
    lead_team, ot_team = make_team("Lead"), make_team("Therapy")
    one_row_of_each(lead_team)
    one_row_of_each(ot_team)
    person = UserFactory(full_name="Two Hats")
    organisation = OrganisationFactory()
    Membership.objects.create(user=person, team=lead_team, role=Role.PCN_LEAD, organisation=organisation)
    Membership.objects.create(user=person, team=ot_team, role=Role.OCCUPATIONAL_THERAPIST, organisation=organisation)

    for model, path in team_owned_models().items():
        rows_of = {team: set(model._default_manager.filter(**{path: team.pk}).values_list("pk", flat=True)) for team in (lead_team, ot_team)}
        assert rows_of[lead_team] and rows_of[ot_team], f"build a row of {model._meta.label} in one_row_of_each"
        seen = set(model._default_manager.visible_to(person, Right.VIEW_CASES).values_list("pk", flat=True))
        assert seen == rows_of[ot_team], model._meta.label
        # As PCN lead they hold VIEW_PRESSURE in their first team only, and see no resident there.
        seen = set(model._default_manager.visible_to(person, Right.VIEW_PRESSURE).values_list("pk", flat=True))
        assert seen == (set() if model in CASE_SCOPED else rows_of[lead_team]), model._meta.label
