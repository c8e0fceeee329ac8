"""Who may do what: the one place that maps team roles to rights.

A right is held in a team, by the person's role there: code asks `has_right(user, team, Right.X)`
for one team, `Team.objects.with_right(user, Right.X)` for all of a person's teams, and fetches
through `Model.objects.visible_to(user, Right.X)` (int_app/teams/scoping.py says what a person
without the right is told). Nothing else in the code compares role names.
"""

from enum import StrEnum

from django.db import models


class Role(models.TextChoices):
    COORDINATOR = "coordinator", "INT coordinator"
    NEIGHBOURHOOD_EXPERT = "neighbourhood_expert", "Neighbourhood expert"
    GP = "gp", "GP"
    OCCUPATIONAL_THERAPIST = "occupational_therapist", "Occupational therapist"
    SOCIAL_WORKER = "social_worker", "Social worker"
    COMMUNITY_TRUST = "community_trust", "Community trust key worker"
    MENTAL_HEALTH_TRUST = "mental_health_trust", "Mental health trust key worker"
    PCN_LEAD = "pcn_lead", "PCN lead"
    PRACTICE_MANAGER = "practice_manager", "Practice manager"
    INFORMATION_GOVERNANCE_LEAD = "information_governance_lead", "Information governance lead"
    # The ICB's place team (DOMAIN.md, "Practice alert frameworks"): reads the place's weekly
    # situation report of practice pressure, in aggregate, and nothing about cases or practices by name.
    PLACE_LEAD = "place_lead", "Place lead (ICB)"


KEY_WORKER_ROLES: frozenset[str] = frozenset(
    {Role.OCCUPATIONAL_THERAPIST, Role.SOCIAL_WORKER, Role.COMMUNITY_TRUST, Role.MENTAL_HEALTH_TRUST}
)

# Everyone in the team who takes part in case discussions sees residents; the PCN lead sees
# aggregates only (DOMAIN.md: "PCN leads see aggregate KPIs of their own PCNs, not case notes").
# A practice manager only reports their practice's pressure; they are not part of case discussions.
# The information governance lead reviews who has access, never what the cases say. The place lead
# reads the place's practice pressure in aggregate.
CASE_ROLES: frozenset[str] = frozenset(
    set(Role.values) - {Role.PCN_LEAD, Role.PRACTICE_MANAGER, Role.INFORMATION_GOVERNANCE_LEAD, Role.PLACE_LEAD}
)


class Right(StrEnum):
    VIEW_CASES = "view_cases"
    RECORD_REFERRALS = "record_referrals"
    ALLOCATE_KEY_WORKER = "allocate_key_worker"
    IMPORT_SERVICE_USE = "import_service_use"
    UPDATE_CASES = "update_cases"
    BUILD_AGENDA = "build_agenda"
    SIGN_CLINICAL_DECISIONS = "sign_clinical_decisions"
    KEEP_DIRECTORY = "keep_directory"
    OWN_ACTIONS = "own_actions"
    VIEW_KPIS = "view_kpis"
    VIEW_TEAM = "view_team"
    REPORT_PRESSURE = "report_pressure"
    VIEW_PRESSURE = "view_pressure"
    VIEW_PLACE_SITREP = "view_place_sitrep"
    ACKNOWLEDGE_PRESSURE_ALERTS = "acknowledge_pressure_alerts"
    VIEW_ACCESS_LOG = "view_access_log"
    REVIEW_ACCESS = "review_access"
    MANAGE_RECORDS = "manage_records"
    IMPORT_POPULATION = "import_population"
    FIND_CASES = "find_cases"


RIGHTS: dict[Right, frozenset[str]] = {
    Right.VIEW_CASES: CASE_ROLES,
    Right.RECORD_REFERRALS: frozenset({Role.COORDINATOR}),
    # Triage: accepting a referral names the resident's key worker, from the team's caseloads.
    Right.ALLOCATE_KEY_WORKER: frozenset({Role.COORDINATOR}),
    # Loading another system's extract matches residents across the team's whole caseload.
    Right.IMPORT_SERVICE_USE: frozenset({Role.COORDINATOR}),
    # Keeping a resident's record (start, consent, support plan, step-down, close) is the work of
    # the coordinator and the key workers; the GP and the expert advise in the meeting.
    Right.UPDATE_CASES: frozenset({Role.COORDINATOR}) | KEY_WORKER_ROLES,
    Right.BUILD_AGENDA: frozenset({Role.COORDINATOR}),
    Right.SIGN_CLINICAL_DECISIONS: frozenset({Role.GP}),
    Right.KEEP_DIRECTORY: frozenset({Role.NEIGHBOURHOOD_EXPERT, Role.COORDINATOR}),
    Right.OWN_ACTIONS: CASE_ROLES,
    Right.VIEW_KPIS: frozenset({Role.PCN_LEAD, Role.COORDINATOR}),
    Right.VIEW_TEAM: frozenset(Role.values),
    # A practice manager reports for their own practice only (checked against Membership.practice).
    Right.REPORT_PRESSURE: frozenset({Role.PRACTICE_MANAGER, Role.COORDINATOR}),
    Right.VIEW_PRESSURE: frozenset({Role.PCN_LEAD, Role.COORDINATOR}),
    # The weekly situation report of the team's place: those who view its pressure, and the place
    # lead, who sees only the place's aggregates (no PCN of their own, so no practice by name).
    Right.VIEW_PLACE_SITREP: frozenset({Role.PCN_LEAD, Role.COORDINATOR, Role.PLACE_LEAD}),
    Right.ACKNOWLEDGE_PRESSURE_ALERTS: frozenset({Role.PCN_LEAD}),
    # Who has opened a resident's record: the coordinator answers a resident's or the DPO's question.
    Right.VIEW_ACCESS_LOG: frozenset({Role.COORDINATOR}),
    # Who is in the team, with what role, since when and how they sign in: the information
    # governance lead's periodic access review, and the coordinator who answers for the team.
    Right.REVIEW_ACCESS: frozenset({Role.INFORMATION_GOVERNANCE_LEAD, Role.COORDINATOR}),
    # The team's records as the law sees them: answering subject access requests, restricting a
    # record when the resident objects, and reading a restricted record (ADR 0018).
    Right.MANAGE_RECORDS: frozenset({Role.COORDINATOR}),
    # The population extract holds every registered person of the team's practices: the
    # coordinator loads it for the team (a system admin, as superuser, for any team).
    Right.IMPORT_POPULATION: frozenset({Role.COORDINATOR}),
    # Case finding lists people nobody has referred yet, from the extract: the coordinator, who
    # records referrals, and the GP, who knows the practice's patients.
    Right.FIND_CASES: frozenset({Role.COORDINATOR, Role.GP}),
}


def role_has_right(role: str, right: Right) -> bool:
    return role in RIGHTS[right]


def has_right(user, team, right: Right) -> bool:
    """True when the user holds, in this team, a role that carries the right."""
    if not user.is_authenticated:
        return False
    return any(role_has_right(role, right) for role in user.roles_in(team))
