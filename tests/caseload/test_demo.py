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
