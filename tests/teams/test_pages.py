import pytest
from django.core.management import call_command
from django.urls import reverse

from int_app.teams.models import Membership, Team, User
from int_app.teams.roles import Role

from ..conftest import member


def test_an_anonymous_visitor_is_sent_to_the_login_page(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_the_coordinator_logs_in_with_email_and_lands_on_their_home(client, coordinator):
    response = client.post(reverse("account_login"), {"login": coordinator.email, "password": "a-long-test-password-2026"})
    assert response.status_code == 302
    home = client.get(response["Location"])
    assert "Your next meetings" in home.text
    assert "Own INT" in home.text


def test_a_wrong_password_shows_a_message_and_logs_no_one_in(client, coordinator):
    response = client.post(reverse("account_login"), {"login": coordinator.email, "password": "wrong"})
    assert response.status_code == 200
    assert "There is a problem" in response.text
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    ("role", "heading"),
    [
        (Role.COORDINATOR, "Your next meetings"),
        (Role.OCCUPATIONAL_THERAPIST, "Your open actions"),
        (Role.SOCIAL_WORKER, "Your open actions"),
        (Role.GP, "Your open actions"),
        (Role.PCN_LEAD, "Your PCNs"),
    ],
)
def test_each_role_sees_its_own_home(client, own_team, role, heading):
    client.force_login(member(own_team, role))
    response = client.get("/")
    assert heading in response.text


def test_a_gp_in_two_teams_sees_both_on_their_home(client, own_team, other_team):
    gp = member(own_team, Role.GP)
    Membership.objects.create(user=gp, team=other_team, role=Role.GP, organisation=gp.memberships.first().organisation)
    client.force_login(gp)
    response = client.get("/")
    assert "Own INT" in response.text and "Other INT" in response.text


def test_a_teammate_sees_who_is_in_the_team(client, own_team):
    client.force_login(member(own_team, Role.SOCIAL_WORKER))
    response = client.get(reverse("team_detail", args=[own_team.slug]))
    assert response.status_code == 200
    assert member(own_team, Role.GP).full_name in response.text
    assert "Own PCN" in response.text


def test_an_outsider_gets_not_found_for_another_team_with_none_of_its_names(client, own_team, outsider):
    client.force_login(outsider)
    response = client.get(reverse("team_detail", args=[own_team.slug]))
    assert response.status_code == 404
    assert member(own_team, Role.GP).full_name not in response.text


def test_the_team_page_reads_in_a_fixed_number_of_queries(client, own_team, django_assert_max_num_queries):
    client.force_login(member(own_team, Role.COORDINATOR))
    # About half are per-request overhead: session, user, user sessions, memberships for the menu.
    with django_assert_max_num_queries(12):
        client.get(reverse("team_detail", args=[own_team.slug]))


def test_the_login_page_lists_demo_accounts_only_in_demo_mode(client, db, settings):
    settings.DEMO_MODE = False
    assert "coordinator@east.demo" not in client.get(reverse("account_login")).text
    settings.DEMO_MODE = True
    page = client.get(reverse("account_login")).text
    assert "coordinator@east.demo" in page and "lead@west.demo" in page and "admin@int.demo" in page


def test_healthz_answers_without_touching_the_database(client, db, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.json() == {"status": "ok"}


def test_readyz_checks_the_database_and_the_broker(client, db, settings, redis_url):
    settings.REDIS_URL = redis_url
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["database"] == "ok"
    assert response.json()["checks"]["broker"] == "ok"


def test_readyz_says_unavailable_when_the_broker_is_down(client, db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"].startswith("error")


def test_every_page_carries_a_strict_content_security_policy(client, coordinator):
    client.force_login(coordinator)
    policy = client.get("/")["Content-Security-Policy"]
    script_src = next(part for part in policy.split(";") if part.strip().startswith("script-src"))
    assert "unsafe-inline" not in script_src and "unsafe-eval" not in script_src
    assert "'nonce-" in script_src
    assert "frame-ancestors 'none'" in policy


class TestSeedDemo:
    def test_it_builds_two_teams_with_every_role_and_is_idempotent(self, db, settings):
        settings.DEMO_MODE = True
        call_command("seed_demo")
        counts = (Team.objects.count(), User.objects.count(), Membership.objects.count())
        call_command("seed_demo")
        assert counts == (Team.objects.count(), User.objects.count(), Membership.objects.count())
        assert set(Team.objects.values_list("slug", flat=True)) == {"east", "west"}
        for team in Team.objects.all():
            assert set(team.memberships.values_list("role", flat=True)) == set(Role.values)
            assert team.pcns.count() == 2
            assert team.practices.count() == 6
        assert User.objects.get(email="admin@int.demo").is_superuser

    def test_demo_logins_use_the_demo_password(self, client, db, settings):
        settings.DEMO_MODE = True
        call_command("seed_demo")
        for email in ("gp@west.demo", "mentalhealth@east.demo", "practice@east.demo"):
            response = client.post(reverse("account_login"), {"login": email, "password": "int-demo-2026"})
            assert response.status_code == 302 and response["Location"] == "/", email
            client.post(reverse("account_logout"))

    def test_it_refuses_to_set_known_passwords_outside_demo_mode(self, db, settings):
        from django.core.management.base import CommandError

        settings.DEMO_MODE = False
        with pytest.raises(CommandError, match="INT_DEMO_MODE"):
            call_command("seed_demo")
