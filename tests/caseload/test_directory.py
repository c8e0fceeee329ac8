"""The neighbourhood expert keeps the team's directory of interventions; every case role reads it."""

from django.urls import reverse

from caseload.models import Intervention
from int_app.teams.roles import Role

from ..conftest import member
from .factories import InterventionFactory


def entry(**changes) -> dict:
    form = {
        "name": "Men's Shed",
        "provider": "Yardley Men's Shed CIO",
        "category": Intervention.Category.SOCIAL,
        "contact": "0121 496 0000, ask for Dave",
        "eligibility": "Men over 50 who feel isolated",
        "is_active": "on",
    }
    form.update(changes)
    return form


def test_the_neighbourhood_expert_adds_an_intervention_to_the_directory(client, own_team):
    client.force_login(member(own_team, Role.NEIGHBOURHOOD_EXPERT))

    response = client.post(reverse("caseload:intervention_add", args=[own_team.slug]), entry())

    assert response.status_code == 302
    shed = Intervention.objects.get()
    assert (shed.team, shed.category, shed.is_active) == (own_team, "social", True)
    assert "Men&#x27;s Shed is saved" in client.get(response["Location"]).text


def test_the_expert_withdraws_an_intervention_that_is_no_longer_offered(client, own_team):
    shed = InterventionFactory(team=own_team, name="Men's Shed")
    client.force_login(member(own_team, Role.NEIGHBOURHOOD_EXPERT))
    client.post(reverse("caseload:intervention_edit", args=[own_team.slug, shed.pk]), entry(is_active=""))
    shed.refresh_from_db()
    assert not shed.is_active
    assert "Not on offer" in client.get(reverse("caseload:directory", args=[own_team.slug])).text


def test_two_entries_cannot_share_a_name(client, own_team):
    InterventionFactory(team=own_team, name="Men's Shed")
    client.force_login(member(own_team, Role.NEIGHBOURHOOD_EXPERT))
    response = client.post(reverse("caseload:intervention_add", args=[own_team.slug]), entry(name="men's shed"))
    assert "already has an intervention with this name" in response.text
    assert Intervention.objects.count() == 1


def test_an_unknown_category_is_refused(client, own_team):
    client.force_login(member(own_team, Role.NEIGHBOURHOOD_EXPERT))
    response = client.post(reverse("caseload:intervention_add", args=[own_team.slug]), entry(category="spiritual"))
    assert response.status_code == 200 and not Intervention.objects.exists()


def test_a_key_worker_reads_the_directory_but_cannot_change_it(client, own_team, other_team):
    InterventionFactory(team=own_team, name="Befriending calls", category="mental_wellbeing")
    InterventionFactory(team=other_team, name="Their lunch club")
    client.force_login(member(own_team, Role.SOCIAL_WORKER))

    page = client.get(reverse("caseload:directory", args=[own_team.slug]))

    assert "Befriending calls" in page.text and "Mental wellbeing" in page.text
    assert "Their lunch club" not in page.text
    assert "Add an intervention" not in page.text
    assert client.post(reverse("caseload:intervention_add", args=[own_team.slug]), entry()).status_code == 403


def test_another_teams_entry_cannot_be_edited(client, own_team, other_team):
    theirs = InterventionFactory(team=other_team)
    client.force_login(member(own_team, Role.NEIGHBOURHOOD_EXPERT))
    assert client.get(reverse("caseload:intervention_edit", args=[own_team.slug, theirs.pk])).status_code == 404
    assert client.get(reverse("caseload:intervention_edit", args=[other_team.slug, theirs.pk])).status_code == 404
