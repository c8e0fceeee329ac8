"""Access-matrix rows for every caseload URL, and the objects they need in the own team."""

from caseload.models import ImportJob, SubjectAccessRequest
from int_app.teams.roles import Role
from tests.access import WORLD_BUILDERS, Row, World, register

from .factories import InterventionFactory, accepted, active, referred, stepped_down

# Who may use each page, written out rather than read from the rights table, so that a change to
# the table shows here as a failing row.
KEY_WORKERS = {Role.OCCUPATIONAL_THERAPIST, Role.SOCIAL_WORKER, Role.COMMUNITY_TRUST, Role.MENTAL_HEALTH_TRUST}
# Everyone in case discussions; not the PCN lead or the practice manager.
VIEW = frozenset({Role.COORDINATOR, Role.NEIGHBOURHOOD_EXPERT, Role.GP, *KEY_WORKERS})
COORDINATOR = frozenset({Role.COORDINATOR})
REFER = COORDINATOR
ALLOCATE = COORDINATOR
IMPORT = COORDINATOR
UPDATE = frozenset({Role.COORDINATOR, *KEY_WORKERS})
DIRECTORY = frozenset({Role.COORDINATOR, Role.NEIGHBOURHOOD_EXPERT})
FORM = ("GET", "POST")
MISSING_PK = 987654321


def build_caseload(world: World) -> None:
    team = world.own
    world.objects["referred"] = referred(team)
    world.objects["accepted"] = accepted(team)
    world.objects["active"] = active(team, consent=False)
    world.objects["stepped_down"] = stepped_down(team)
    world.objects["intervention"] = InterventionFactory(team=team)
    world.objects["goal"] = world.objects["active"].add_goal(
        text="Get to the lunch club on Thursdays", by=world.member(team, "coordinator")
    )
    world.objects["restricted"] = active(team, consent=False)
    world.objects["restricted"].restrict(reason="Objected to the team using his information", by=world.member(team, "coordinator"))
    world.objects["subject_access"] = SubjectAccessRequest.log(
        resident=world.objects["stepped_down"], received_on=world.objects["stepped_down"].referral_date, by=world.member(team, "coordinator")
    )
    job = ImportJob.objects.create(file_name="extract.csv", status=ImportJob.Status.DONE)
    job.teams.set([team])
    world.objects["import_job"] = job


WORLD_BUILDERS.append(build_caseload)


def resident_url(state: str, tail: str = "") -> tuple:
    """The URL of a resident page and the same page for a resident who does not exist."""

    def path(w: World) -> str:
        return f"/caseload/teams/{w.own.slug}/residents/{w.objects[state].pk}/{tail}"

    def missing(w: World) -> str:
        return f"/caseload/teams/{w.own.slug}/residents/{MISSING_PK}/{tail}"

    return path, missing


def row(name: str, state: str, tail: str, roles, methods=("GET",), **kwargs) -> Row:
    path, missing = resident_url(state, tail)
    return Row(f"caseload:{name}", path, roles=roles, methods=methods, missing=missing, **kwargs)


register(
    # Not about one team's object: a member of another team gets what they would get at home.
    Row("caseload:index", lambda w: "/caseload/", roles=VIEW, other_team="same", get_ok=frozenset({302})),
    Row("caseload:refer", lambda w: "/caseload/refer/", roles=REFER, other_team="same", methods=FORM),
    Row(
        "caseload:check_nhs_number",
        lambda w: "/caseload/refer/check-nhs-number/?nhs_number=9434765919",
        roles=REFER,
        other_team="same",
    ),
    Row(
        "caseload:import_service_use", lambda w: "/caseload/service-use/import/", roles=IMPORT, other_team="same", methods=FORM
    ),
    # One team's import, at an address that names no team: without the right it is not found.
    Row(
        "caseload:import_job",
        lambda w: f"/caseload/service-use/imports/{w.objects['import_job'].pk}/",
        roles=IMPORT,
        refused=404,
        missing=lambda w: f"/caseload/service-use/imports/{MISSING_PK}/",
    ),
    # One team's pages.
    Row("caseload:list", lambda w: f"/caseload/teams/{w.own.slug}/", roles=VIEW, missing=lambda w: "/caseload/teams/no-such-team/"),
    Row(
        "caseload:key_workers",
        lambda w: f"/caseload/teams/{w.own.slug}/key-workers/",
        roles=ALLOCATE,
        missing=lambda w: "/caseload/teams/no-such-team/key-workers/",
    ),
    Row(
        "caseload:directory",
        lambda w: f"/caseload/teams/{w.own.slug}/directory/",
        roles=VIEW,
        missing=lambda w: "/caseload/teams/no-such-team/directory/",
    ),
    Row(
        "caseload:intervention_add",
        lambda w: f"/caseload/teams/{w.own.slug}/directory/new/",
        roles=DIRECTORY,
        methods=FORM,
        missing=lambda w: "/caseload/teams/no-such-team/directory/new/",
    ),
    Row(
        "caseload:intervention_edit",
        lambda w: f"/caseload/teams/{w.own.slug}/directory/{w.objects['intervention'].pk}/edit/",
        roles=DIRECTORY,
        methods=FORM,
        missing=lambda w: f"/caseload/teams/{w.own.slug}/directory/{MISSING_PK}/edit/",
    ),
    # One resident's pages: the PCN lead, who sees no case, is forbidden.
    row("resident", "active", "", VIEW),
    row("resident_access_log", "active", "access-log/", COORDINATOR),
    row("triage", "referred", "triage/", ALLOCATE, FORM),
    row("start_intervention", "accepted", "start/", UPDATE, FORM),
    row("record_consent", "active", "consent/", UPDATE, FORM),
    row("support_plan", "active", "plan/", VIEW),
    row("goal_add", "active", "plan/goals/", UPDATE, ("POST",)),
    Row(
        "caseload:goal_status",
        lambda w: f"/caseload/teams/{w.own.slug}/residents/{w.objects['active'].pk}/plan/goals/{w.objects['goal'].pk}/",
        roles=UPDATE,
        methods=("POST",),
        missing=lambda w: f"/caseload/teams/{w.own.slug}/residents/{w.objects['active'].pk}/plan/goals/{MISSING_PK}/",
    ),
    row("plan_interventions", "active", "plan/interventions/", UPDATE, ("POST",)),
    row("step_down", "active", "step-down/", UPDATE, FORM),
    row("close", "stepped_down", "close/", UPDATE, FORM),
    # The record on request, restricted and retired: the coordinator's (MANAGE_RECORDS).
    Row(
        "caseload:records",
        lambda w: f"/caseload/teams/{w.own.slug}/records/",
        roles=COORDINATOR,
        missing=lambda w: "/caseload/teams/no-such-team/records/",
    ),
    Row(
        "caseload:retention",
        lambda w: f"/caseload/teams/{w.own.slug}/records/retention/",
        roles=COORDINATOR,
        missing=lambda w: "/caseload/teams/no-such-team/records/retention/",
    ),
    Row(
        "caseload:subject_access_produce",
        lambda w: f"/caseload/teams/{w.own.slug}/records/subject-access/{w.objects['subject_access'].pk}/produce/",
        roles=COORDINATOR,
        methods=("POST",),
        missing=lambda w: f"/caseload/teams/{w.own.slug}/records/subject-access/{MISSING_PK}/produce/",
    ),
    # Not produced in this world: the coordinator is sent back to the records page to produce it.
    Row(
        "caseload:subject_access_download",
        lambda w: f"/caseload/teams/{w.own.slug}/records/subject-access/{w.objects['subject_access'].pk}/download/",
        roles=COORDINATOR,
        missing=lambda w: f"/caseload/teams/{w.own.slug}/records/subject-access/{MISSING_PK}/download/",
        get_ok=frozenset({302}),
    ),
    Row(
        "caseload:subject_access_answered",
        lambda w: f"/caseload/teams/{w.own.slug}/records/subject-access/{w.objects['subject_access'].pk}/answered/",
        roles=COORDINATOR,
        methods=("POST",),
        missing=lambda w: f"/caseload/teams/{w.own.slug}/records/subject-access/{MISSING_PK}/answered/",
    ),
    row("subject_access_new", "active", "subject-access/", COORDINATOR, FORM),
    row("restrict", "active", "restrict/", COORDINATOR, FORM),
    # A restricted record: the coordinator reads it; for the rest of the team it does not exist.
    row("lift_restriction", "restricted", "lift-restriction/", COORDINATOR, FORM),
)


# --- the population extract and case finding ---------------------------------------------------------

FIND_CASES = frozenset({Role.COORDINATOR, Role.GP})


def build_population(world: World) -> None:
    """A current population extract for the own team, so case finding lists someone."""
    from caseload.population import population_load_unchecked
    from tests.caseload.population_builders import extract_rows

    world.objects["population_extract"] = population_load_unchecked(
        team=world.own, rows=extract_rows(world.own), file_name="population.csv"
    )


WORLD_BUILDERS.append(build_population)

register(
    Row(
        "caseload:case_finding",
        lambda w: f"/caseload/teams/{w.own.slug}/case-finding/",
        roles=FIND_CASES,
        missing=lambda w: "/caseload/teams/no-such-team/case-finding/",
    ),
)
