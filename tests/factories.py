"""factory_boy factories for the organisation and its people."""

import factory
from django.contrib.auth.hashers import make_password
from factory.django import DjangoModelFactory

from int_app.teams.models import PCN, Membership, Neighbourhood, Organisation, Place, Practice, Team, User
from int_app.teams.roles import Role

PASSWORD = "a-long-test-password-2026"


class PlaceFactory(DjangoModelFactory):
    class Meta:
        model = Place
        django_get_or_create = ("name",)

    name = "Birmingham"


class NeighbourhoodFactory(DjangoModelFactory):
    class Meta:
        model = Neighbourhood

    place = factory.SubFactory(PlaceFactory)
    name = factory.Sequence(lambda n: f"Neighbourhood {n}")


class PCNFactory(DjangoModelFactory):
    class Meta:
        model = PCN

    neighbourhood = factory.SubFactory(NeighbourhoodFactory)
    name = factory.Sequence(lambda n: f"PCN {n}")
    ods_code = factory.Sequence(lambda n: f"U{n:05d}")


class PracticeFactory(DjangoModelFactory):
    class Meta:
        model = Practice

    pcn = factory.SubFactory(PCNFactory)
    name = factory.Sequence(lambda n: f"Practice {n}")
    ods_code = factory.Sequence(lambda n: f"P{n:05d}")


class TeamFactory(DjangoModelFactory):
    class Meta:
        model = Team

    neighbourhood = factory.SubFactory(NeighbourhoodFactory)
    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")


class OrganisationFactory(DjangoModelFactory):
    class Meta:
        model = Organisation
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Organisation {n}")
    kind = Organisation.Kind.COMMUNITY_TRUST


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"person{n}@example.nhs.uk")
    full_name = factory.Sequence(lambda n: f"Person {n}")
    # Hashed before the row is written (with the tests' fast hasher), so a person is one INSERT
    # rather than an INSERT and an UPDATE: every test's two teams make eighteen people.
    password = factory.LazyFunction(lambda: make_password(PASSWORD))


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    team = factory.SubFactory(TeamFactory)
    role = Role.COORDINATOR
    organisation = factory.SubFactory(OrganisationFactory)


def make_team(name: str) -> Team:
    """A team with one PCN of two practices and one member in every role."""
    slug = name.lower()
    team = TeamFactory(name=f"{name} INT", slug=slug)
    pcn = PCNFactory(neighbourhood=team.neighbourhood, name=f"{name} PCN")
    practices = PracticeFactory.create_batch(2, pcn=pcn)
    for role in Role.values:
        MembershipFactory(
            team=team,
            role=role,
            user=UserFactory(email=f"{role}@{slug}.test", full_name=f"{name} {role}"),
            practice=practices[0] if role == Role.PRACTICE_MANAGER else None,
        )
    return team


def valid_nhs_number(seed: int) -> str:
    """The first valid NHS number at or after a nine-digit seed (some seeds have none)."""
    from caseload.nhs_number import nhs_number_check_digit

    stem = 400_000_000 + seed
    while True:
        digits = f"{stem:09d}"
        check = nhs_number_check_digit(digits)
        if check is not None:
            return f"{digits}{check}"
        stem += 1


class ResidentFactory(DjangoModelFactory):
    """A referred resident of the team's first practice. Pass status and fields for later stages."""

    class Meta:
        model = "caseload.Resident"

    team = factory.SubFactory(TeamFactory)
    practice = factory.LazyAttribute(lambda o: o.team.practices.first() or PracticeFactory(pcn=PCNFactory(neighbourhood=o.team.neighbourhood)))
    nhs_number = factory.Sequence(lambda n: valid_nhs_number(n * 13))
    given_name = factory.Iterator(["Margaret", "Joseph", "Olive", "Winston", "Parveen", "Stanislaw"])
    family_name = factory.Sequence(lambda n: f"Resident{n}")
    date_of_birth = factory.Faker("date_of_birth", minimum_age=55, maximum_age=95)
    referral_date = factory.Faker("date_between", start_date="-60d", end_date="-1d")
    referral_source = "gp"
    referral_reason = "Frequent A&E attendance after falls"
    referrer = "Dr Example, Church Road Surgery"
