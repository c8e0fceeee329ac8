"""The coordinator records a referral: NHS number checked as they type, the practice decides the
team, and a second referral of someone already open is refused."""

import pytest
from django.urls import reverse

from caseload.models import Resident, ResidentEvent
from int_app.teams.roles import Role

from ..conftest import member
from .factories import days_ago, referred

VALID = "9434765919"


def referral(practice, **changes) -> dict:
    form = {
        "nhs_number": "943 476 5919",
        "given_name": "Margaret",
        "family_name": "Hughes",
        "date_of_birth": "1941-06-02",
        "practice": practice.pk,
        "referral_date": days_ago(1).isoformat(),
        "referral_source": Resident.ReferralSource.AE_FREQUENT_ATTENDER,
        "referrer": "A&E frequent-attender list, Heartlands",
        "referral_reason": "Six A&E attendances after falls in three months",
    }
    form.update(changes)
    return form


def test_the_coordinator_records_a_referral_for_their_teams_practice(client, own_team, coordinator):
    client.force_login(coordinator)
    practice = own_team.practices.first()

    response = client.post(reverse("caseload:refer"), referral(practice))

    resident = Resident.objects.get(nhs_number=VALID)
    assert response.status_code == 302 and response["Location"] == resident.get_absolute_url()
    assert (resident.team, resident.practice, resident.status) == (own_team, practice, Resident.Status.REFERRED)
    assert resident.referred_by == coordinator
    assert resident.events.get().kind == ResidentEvent.Kind.REFERRED
    assert "waiting for triage" in client.get(response["Location"]).text


def test_only_the_practices_of_the_coordinators_teams_are_offered(client, own_team, other_team, coordinator):
    client.force_login(coordinator)
    page = client.get(reverse("caseload:refer"))
    for practice in own_team.practices:
        assert practice.name in page.text
    for practice in other_team.practices:
        assert practice.name not in page.text
    refused = client.post(reverse("caseload:refer"), referral(other_team.practices.first()))
    assert refused.status_code == 200 and "Select a valid choice" in refused.text
    assert not Resident.objects.exists()


def test_a_practice_the_ods_has_closed_is_not_offered_for_a_new_referral(client, own_team, coordinator):
    closed, still_open = own_team.practices.order_by("pk")
    closed.status = closed.Status.CLOSED
    closed.save(update_fields=["status"])
    client.force_login(coordinator)

    page = client.get(reverse("caseload:refer"))
    assert still_open.name in page.text and closed.name not in page.text
    refused = client.post(reverse("caseload:refer"), referral(closed))
    assert refused.status_code == 200 and "Select a valid choice" in refused.text
    assert not Resident.objects.exists()


@pytest.mark.parametrize(
    ("nhs_number", "message"),
    [("943 476 5918", "last digit does not match"), ("12345", "10 digits"), ("", "This field is required")],
)
def test_a_bad_nhs_number_is_refused_with_a_clear_message(client, own_team, coordinator, nhs_number, message):
    client.force_login(coordinator)
    response = client.post(reverse("caseload:refer"), referral(own_team.practices.first(), nhs_number=nhs_number))
    assert response.status_code == 200
    assert "There is a problem" in response.text and message in response.text
    assert not Resident.objects.exists()


def test_dates_in_the_future_or_before_birth_are_refused(client, own_team, coordinator):
    client.force_login(coordinator)
    practice = own_team.practices.first()
    future = client.post(reverse("caseload:refer"), referral(practice, referral_date=days_ago(-2).isoformat()))
    assert "cannot be in the future" in future.text
    before_birth = client.post(reverse("caseload:refer"), referral(practice, date_of_birth="2010-05-01", referral_date="2010-01-01"))
    assert "before the date of birth" in before_birth.text
    assert not Resident.objects.exists()


def test_the_nhs_number_is_checked_as_the_coordinator_types(client, own_team, coordinator):
    client.force_login(coordinator)
    url = reverse("caseload:check_nhs_number")
    assert "valid NHS number" in client.get(url, {"nhs_number": "943 476 5919"}, headers={"HX-Request": "true"}).text
    assert "last digit does not match" in client.get(url, {"nhs_number": "9434765918"}).text
    assert "10 digits" in client.get(url, {"nhs_number": "94347"}).text
    blank = client.get(url, {"nhs_number": ""})
    assert blank.status_code == 200 and "app-check" not in blank.text
    assert "<html" not in blank.text, "only the message is sent, for htmx to swap in"


def test_the_form_asks_for_the_check_as_you_type(client, coordinator):
    client.force_login(coordinator)
    page = client.get(reverse("caseload:refer")).text
    assert f'hx-get="{reverse("caseload:check_nhs_number")}"' in page
    assert 'hx-trigger="keyup changed delay:300ms, change"' in page


def test_a_second_referral_of_an_open_resident_links_to_their_record(client, own_team, coordinator):
    existing = referred(own_team, nhs_number=VALID)
    client.force_login(coordinator)

    response = client.post(reverse("caseload:refer"), referral(own_team.practices.first()))

    assert response.status_code == 200
    assert "already has an open referral with your team" in response.text
    assert existing.get_absolute_url() in response.text
    assert Resident.objects.count() == 1
    check = client.get(reverse("caseload:check_nhs_number"), {"nhs_number": VALID})
    assert existing.get_absolute_url() in check.text


def test_an_open_referral_with_another_team_is_refused_without_saying_who_or_where(client, own_team, other_team, coordinator):
    theirs = referred(other_team, nhs_number=VALID, given_name="Winifred")
    client.force_login(coordinator)

    response = client.post(reverse("caseload:refer"), referral(own_team.practices.first()))

    assert "open referral with another team" in response.text
    assert theirs.get_absolute_url() not in response.text and "Winifred" not in response.text
    check = client.get(reverse("caseload:check_nhs_number"), {"nhs_number": VALID})
    assert "another team" in check.text and "Winifred" not in check.text


def test_a_closed_episode_does_not_stop_a_new_referral(client, own_team, coordinator):
    earlier = referred(own_team, nhs_number=VALID)
    earlier.not_accept(reason="declined", by=coordinator)
    client.force_login(coordinator)
    response = client.post(reverse("caseload:refer"), referral(own_team.practices.first()))
    assert response.status_code == 302
    assert Resident.objects.filter(nhs_number=VALID).count() == 2


def test_a_key_worker_cannot_record_referrals(client, own_team):
    client.force_login(member(own_team, Role.SOCIAL_WORKER))
    assert client.get(reverse("caseload:refer")).status_code == 403
    assert client.post(reverse("caseload:refer"), referral(own_team.practices.first())).status_code == 403
