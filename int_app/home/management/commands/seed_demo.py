"""Load the demo organisation. Deterministic and idempotent: running it twice changes nothing.

It lives in the top layer (ADR 0007) because it calls every app's own demo step; the organisation
it seeds first is the teams layer's, which the others build on."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from int_app.teams.demo import DEMO_ADMIN_EMAIL, DEMO_PASSWORD, DEMO_ROLES, DEMO_TEAMS, demo_email
from int_app.teams.models import PCN, Membership, Neighbourhood, Organisation, Place, Practice, Team, User
from int_app.teams.roles import Role


def demo_steps():
    # Each app's own step, bottom layer first: what a step seeds may build on the ones before it.
    from caseload.demo import seed_caseload, seed_population
    from kpis.demo import seed_kpis
    from meetings.demo import seed_meetings
    from pressure.demo import seed_pressure

    return (seed_caseload, seed_population, seed_pressure, seed_meetings, seed_kpis)


PRACTICE_NAMES = ("Church Road Surgery", "Park View Medical Centre", "Station Lane Practice")
FIRST_NAMES = {
    "east": ("Amina", "Daniel", "Priya", "Oluwaseun", "Grace", "Tomasz", "Fatima", "Hannah", "Gareth", "Nadia", "Ruth"),
    "west": ("Kwame", "Sophie", "Imran", "Chloe", "Aisha", "Liam", "Mei", "Rebecca", "Joanna", "Owen", "Farah"),
}
SURNAMES = {
    "east": ("Begum", "Clarke", "Patel", "Adeyemi", "Murphy", "Nowak", "Hussain", "Wright", "Price", "Okafor", "Bennett"),
    "west": ("Mensah", "Turner", "Khan", "Evans", "Rahman", "O'Brien", "Chen", "Hughes", "Kowalska", "Davies", "Siddiqui"),
}
SHARED_ORGANISATIONS = {
    Organisation.Kind.COUNCIL: "Birmingham City Council",
    Organisation.Kind.COMMUNITY_TRUST: "Birmingham Community Healthcare NHS Foundation Trust",
    Organisation.Kind.MENTAL_HEALTH_TRUST: "Birmingham and Solihull Mental Health NHS Foundation Trust",
}


class Command(BaseCommand):
    help = "Create the demo place, two INTs (East and West) and a login for every role."

    def handle(self, *args, **options) -> None:
        if not settings.DEMO_MODE and not options.get("force"):
            raise CommandError("seed_demo sets known passwords: run it only with INT_DEMO_MODE=true.")
        if options.get("once") and User.objects.filter(email=DEMO_ADMIN_EMAIL).exists():
            self.stdout.write("Demo data already loaded; `make clean-data` starts afresh.")
            return
        with transaction.atomic():
            self.seed_organisation()
        for step in demo_steps():
            with transaction.atomic():
                self.stdout.write(step(self.stdout) or "")
        self.stdout.write(self.style.SUCCESS("Demo organisation ready."))

    def add_arguments(self, parser) -> None:
        parser.add_argument("--force", action="store_true", help="Seed even when not in demo mode.")
        parser.add_argument(
            "--once", action="store_true", help="Do nothing when the demo data is already there (make run)."
        )

    def seed_organisation(self) -> None:
        place, _ = Place.objects.get_or_create(name="Birmingham", defaults={"ods_sub_icb_codes": ["15E"]})
        shared = {
            kind: Organisation.objects.get_or_create(name=name, defaults={"kind": kind})[0]
            for kind, name in SHARED_ORGANISATIONS.items()
        }
        for team_index, spec in enumerate(DEMO_TEAMS):
            neighbourhood, _ = Neighbourhood.objects.get_or_create(place=place, name=spec.neighbourhood)
            team, _ = Team.objects.update_or_create(
                slug=spec.slug, defaults={"name": spec.name, "neighbourhood": neighbourhood}
            )
            for pcn_index, (pcn_name, pcn_code) in enumerate(spec.pcns):
                pcn, _ = PCN.objects.update_or_create(
                    ods_code=pcn_code, defaults={"name": pcn_name, "neighbourhood": neighbourhood}
                )
                for practice_index, practice_name in enumerate(PRACTICE_NAMES):
                    code = f"{spec.practice_letter}{team_index + 8}{pcn_index}{practice_index:03d}"
                    # Every practice but each PCN's last has a shared mailbox, so the demo shows
                    # outcome summaries sent and one held back for want of a mailbox.
                    mailbox = f"{code.lower()}.practice@nhs.demo" if practice_index < len(PRACTICE_NAMES) - 1 else ""
                    Practice.objects.update_or_create(
                        ods_code=code,
                        defaults={"name": f"{practice_name}, {pcn_name.removesuffix(' PCN')}", "pcn": pcn, "shared_mailbox": mailbox},
                    )
            local = {
                Organisation.Kind.GP_PRACTICE: f"{PRACTICE_NAMES[0]}, {spec.pcns[0][0].removesuffix(' PCN')}",
                Organisation.Kind.PCN_OR_ICB: f"{spec.neighbourhood} Primary Care Networks",
                Organisation.Kind.VOLUNTARY: f"{spec.neighbourhood} Voluntary Action",
            }
            organisations = dict(shared)
            for kind, name in local.items():
                organisations[kind] = Organisation.objects.get_or_create(name=name, defaults={"kind": kind})[0]
            for person_index, (role, (_short, org_kind)) in enumerate(DEMO_ROLES.items()):
                full_name = f"{FIRST_NAMES[spec.slug][person_index]} {SURNAMES[spec.slug][person_index]}"
                if role == Role.GP:
                    full_name = f"Dr {full_name}"
                user = self.demo_user(demo_email(role, spec.slug), full_name)
                # The demo practice manager runs the team's first practice, the GP's own.
                practice = team.practices.order_by("ods_code").first() if role == Role.PRACTICE_MANAGER else None
                Membership.objects.update_or_create(
                    user=user,
                    team=team,
                    defaults={"role": role, "organisation": organisations[org_kind], "practice": practice},
                )
        admin = self.demo_user(DEMO_ADMIN_EMAIL, "Sam Admin")
        if not admin.is_superuser:
            admin.is_staff = admin.is_superuser = True
            admin.save(update_fields=["is_staff", "is_superuser"])

    def demo_user(self, email: str, full_name: str) -> User:
        user = User.objects.filter(email=email).first()
        if user is None:
            return User.objects.create_user(email, DEMO_PASSWORD, full_name=full_name)
        if user.full_name != full_name:
            user.full_name = full_name
            user.save(update_fields=["full_name"])
        return user
