"""seed_demo grows a caseload worth looking at: residents in every state, plans, a directory,
and two years of service use that mostly falls after the intervention starts."""

import pytest
from django.utils import timezone

from caseload.demo import seed_caseload
from caseload.models import Goal, Intervention, Resident, ServiceUseEvent
from int_app.home.management.commands.seed_demo import Command


@pytest.fixture
def demo_organisation(db):
    Command().seed_organisation()


def test_each_team_gets_about_120_residents_in_every_state(demo_organisation):
    summary = seed_caseload(None)

    assert "residents" in summary
    for slug in ("east", "west"):
        residents = Resident.objects.filter(team__slug=slug)
        assert 115 <= residents.count() <= 130
        assert set(residents.values_list("status", flat=True)) == set(Resident.Status.values)
        assert Intervention.objects.filter(team__slug=slug).count() == 12
        key_workers = set(residents.exclude(key_worker=None).values_list("key_worker__email", flat=True))
        assert len(key_workers) == 4
    assert Goal.objects.exists()
    assert Resident.objects.filter(status=Resident.Status.ACTIVE).without_consent().exists(), "some active residents still need consent"
    scores = list(Resident.objects.exclude(feedback_score=None).values_list("feedback_score", flat=True))
    assert 4.0 <= sum(scores) / len(scores) <= 4.6


def test_most_residents_use_services_less_after_their_intervention_starts(demo_organisation):
    seed_caseload(None)
    this_month = timezone.localdate().replace(day=1)
    fewer = more = 0
    for resident in Resident.objects.exclude(intervention_start=None).exclude(intervention_start__gte=this_month):
        months = resident.service_use_by_month()
        # Monthly rates, whole months only: a recent start has only a few months "after".
        after_months = [m for m in months.months if months.anchor <= m < this_month]
        if len(after_months) < 3:
            continue  # one or two months after are too few to say, whatever the day the demo is made
        before = sum(n for (month, _kind), n in months.counts.items() if month < months.anchor) / 12
        after = sum(n for (month, _kind), n in months.counts.items() if month in after_months) / len(after_months)
        if after < before:
            fewer += 1
        else:
            more += 1
    assert fewer > 2 * more > 0
    assert ServiceUseEvent.objects.count() > 10_000


def test_seeding_twice_changes_nothing_and_the_data_is_the_same_each_time(demo_organisation):
    seed_caseload(None)
    first = list(Resident.objects.order_by("nhs_number", "status").values_list("nhs_number", "given_name", "family_name", "status"))
    uses = ServiceUseEvent.objects.count()
    assert "already" in seed_caseload(None)
    assert ServiceUseEvent.objects.count() == uses

    Resident.objects.all().delete()
    Intervention.objects.all().delete()
    seed_caseload(None)
    again = list(Resident.objects.order_by("nhs_number", "status").values_list("nhs_number", "given_name", "family_name", "status"))
    assert again == first


def test_the_demo_population_extract_holds_every_resident_as_their_service_use_says(demo_organisation, monkeypatch):
    """Each demo team's extract has the residents with their practice, year of birth and monthly
    contacts, and registered people whose heavy spells pass by themselves (regression to the mean)."""
    import datetime

    from django.db.models import Sum

    from caseload import demo
    from caseload.models import KIND_NUMBERS, PopulationContacts, PopulationExtract, PopulationPerson

    monkeypatch.setattr(demo, "POPULATION_PEOPLE_PER_TEAM", 3_000)  # the demo has 15,000 a team (tests: 1,500)
    seed_caseload(None)

    summary = demo.seed_population(None)

    assert summary.startswith("Population extracts: East INT")
    for slug in ("east", "west"):
        extract = PopulationExtract.objects.get(team__slug=slug, is_current=True)
        assert demo.POPULATION_MONTHS >= 24 and extract.people > 3_000
        months = (extract.last_month.year - extract.first_month.year) * 12 + extract.last_month.month - extract.first_month.month + 1
        assert months == demo.POPULATION_MONTHS
        resident = Resident.objects.filter(team__slug=slug, status=Resident.Status.ACTIVE).order_by("pk").first()
        person = PopulationPerson.objects.get(extract=extract, nhs_number=resident.nhs_number)
        assert (person.practice_id, person.birth_year) == (resident.practice_id, resident.date_of_birth.year)
        end = (extract.last_month + datetime.timedelta(days=32)).replace(day=1)
        in_window = resident.service_use.filter(date__gte=extract.first_month, date__lt=end)
        ae = PopulationContacts.objects.filter(person_id=person.pk, kind=KIND_NUMBERS["ae_attendance"]).aggregate(n=Sum("contacts"))["n"] or 0
        assert ae == in_window.filter(kind="ae_attendance").count()
        assert sum(person.recent_by_kind) == person.recent_total
        # The heaviest emergency users of the six months before the last six, who are not residents,
        # use fewer emergency services in the last six without anyone's help.
        heaviest = list(
            PopulationPerson.objects.filter(extract=extract)
            .exclude(nhs_number__in=Resident.objects.values("nhs_number"))
            .order_by("-before_emergency")[:60]
            .values_list("before_emergency", "recent_emergency")
        )
        before, after = sum(b for b, _a in heaviest), sum(a for _b, a in heaviest)
        assert after < 0.8 * before, (before, after)
