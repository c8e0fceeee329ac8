"""The demo organisation: one place, two INTs, a full team in each. Used by seed_demo and
by the login page, which lists these accounts in demo mode only."""

from dataclasses import dataclass

from .models import Organisation
from .roles import Role

DEMO_PASSWORD = "int-demo-2026"
DEMO_ADMIN_EMAIL = "admin@int.demo"

# role -> (short name used in the login, the organisation kind they work for)
DEMO_ROLES: dict[str, tuple[str, str]] = {
    Role.COORDINATOR: ("coordinator", Organisation.Kind.PCN_OR_ICB),
    Role.NEIGHBOURHOOD_EXPERT: ("expert", Organisation.Kind.VOLUNTARY),
    Role.GP: ("gp", Organisation.Kind.GP_PRACTICE),
    Role.OCCUPATIONAL_THERAPIST: ("ot", Organisation.Kind.COMMUNITY_TRUST),
    Role.SOCIAL_WORKER: ("social", Organisation.Kind.COUNCIL),
    Role.COMMUNITY_TRUST: ("community", Organisation.Kind.COMMUNITY_TRUST),
    Role.MENTAL_HEALTH_TRUST: ("mentalhealth", Organisation.Kind.MENTAL_HEALTH_TRUST),
    Role.PCN_LEAD: ("lead", Organisation.Kind.PCN_OR_ICB),
    Role.PRACTICE_MANAGER: ("practice", Organisation.Kind.GP_PRACTICE),
    Role.INFORMATION_GOVERNANCE_LEAD: ("ig", Organisation.Kind.PCN_OR_ICB),
    Role.PLACE_LEAD: ("place", Organisation.Kind.PCN_OR_ICB),
}


@dataclass(frozen=True)
class DemoTeam:
    slug: str
    name: str
    neighbourhood: str
    pcns: tuple[tuple[str, str], ...]  # (name, ODS code)
    practice_letter: str


DEMO_TEAMS: tuple[DemoTeam, ...] = (
    DemoTeam("east", "East INT", "East Birmingham", (("Yardley PCN", "U10001"), ("Hodge Hill PCN", "U10002")), "M"),
    DemoTeam("west", "West INT", "West Birmingham", (("Ladywood PCN", "U20001"), ("Soho PCN", "U20002")), "N"),
)


def demo_email(role: str, team_slug: str) -> str:
    return f"{DEMO_ROLES[role][0]}@{team_slug}.demo"


def demo_accounts() -> list[dict[str, str]]:
    accounts = [
        {"email": demo_email(role, team.slug), "role": Role(role).label, "team": team.name}
        for team in DEMO_TEAMS
        for role in DEMO_ROLES
    ]
    accounts.append({"email": DEMO_ADMIN_EMAIL, "role": "Staff admin", "team": "All"})
    return accounts
