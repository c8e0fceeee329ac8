"""Cached pages (ADR 0026): keyed on the person, the committed version of the team data,
the day and the address, so a page never shows what a write has changed, nor one person's part to
another; the access log and the rights checks still happen on every request."""

import datetime
import re
from zoneinfo import ZoneInfo

import psycopg2
import pytest
import time_machine
from django.conf import settings
from django.contrib.messages import SUCCESS
from django.contrib.messages.storage.session import SessionStorage
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import _unmask_cipher_token
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from caseload.models import Resident, ResidentAccess
from int_app.teams.data_version import TRIGGER, data_tables, data_version, data_version_of, left_out_tables
from int_app.teams.models import User
from int_app.teams.page_cache import CSRF_PLACEHOLDER, NONCE_PLACEHOLDER, release
from int_app.teams.roles import Role
from meetings.models import Action
from pressure.models import week_start_of
from pressure.services import pressure_report_submit

from ..caseload.factories import active, referred
from ..conftest import member
from ..factories import MembershipFactory
from ..meetings.factories import active_resident, add_item, make_action, make_meeting

LONDON = ZoneInfo("Europe/London")


def cached(response) -> bool:
    """The page came from the cache: the view read and rendered nothing for it."""
    return getattr(response, "from_page_cache", False)


def csrf_tokens_of(response) -> list[str]:
    """Every CSRF token in the page: htmx's header on <body> and each form's hidden field."""
    html = response.content.decode()
    return re.findall(r'"X-CSRFToken": "([^"]+)"', html) + re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)


def csrf_tokens_are_this_sessions(client, response) -> bool:
    """Each token in the page is a masking of this browser's CSRF secret (its cookie), so a form or
    an htmx request from it would pass the CSRF check, and none is another browser's."""
    secret = client.cookies[settings.CSRF_COOKIE_NAME].value
    tokens = csrf_tokens_of(response)
    return bool(tokens) and CSRF_PLACEHOLDER not in response.content.decode() and all(_unmask_cipher_token(token) == secret for token in tokens)


def tables_with_the_trigger() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE t.tgname = %s", [TRIGGER])
        return {name for (name,) in cursor.fetchall()}


def test_every_table_of_team_data_moves_the_version_and_the_logs_of_reading_do_not(db):
    assert set(data_tables()) <= tables_with_the_trigger()
    assert {"caseload_resident", "meetings_action", "teams_membership", "kpis_outcomesums", "kpis_processvalue"} <= set(data_tables())
    assert not set(left_out_tables()) & tables_with_the_trigger()


def test_a_save_a_bulk_update_and_raw_sql_each_move_the_version_and_an_access_row_does_not(own_team, coordinator):
    resident = referred(own_team)
    versions = [data_version()]
    resident.given_name = "Olive"
    resident.save(update_fields=["given_name"])
    versions.append(data_version())
    Resident.objects.filter(pk=resident.pk).update(family_name="Okafor")
    versions.append(data_version())
    with connection.cursor() as cursor:
        cursor.execute("UPDATE caseload_resident SET given_name = 'Olivia' WHERE id = %s", [resident.pk])
    versions.append(data_version())
    assert versions == sorted(set(versions))
    ResidentAccess.objects.create(user=coordinator, resident=resident, page=ResidentAccess.Page.RESIDENT, path="/")
    assert data_version() == versions[-1]


def test_while_another_transaction_writes_there_is_no_version_to_cache_against(db):
    assert data_version() is not None
    other = psycopg2.connect(**connection.get_connection_params())
    try:
        with other.cursor() as cursor:
            cursor.execute("UPDATE teams_place SET name = name WHERE false")  # a statement trigger fires for no rows too
            assert data_version() is None
        other.rollback()
        assert data_version() is not None
    finally:
        other.close()


def test_the_caseload_shows_a_changed_name_at_once_and_the_cached_list_before(client, own_team, coordinator):
    resident = active(own_team, given_name="Margaret", family_name="Begum")
    client.force_login(coordinator)
    url = reverse("caseload:list", args=[own_team.slug])
    first = client.get(url)
    with CaptureQueriesContext(connection) as queries:
        again = client.get(url)
    assert not cached(first) and cached(again)
    assert len(queries) == 1, "the data version; the session, the person, their memberships and the page come from the cache"
    assert again.content.count(b"Begum, Margaret") == 1

    resident.family_name = "Okafor"
    resident.save(update_fields=["family_name"])
    after = client.get(url)
    assert not cached(after)
    assert b"Okafor, Margaret" in after.content and b"Begum" not in after.content


def test_a_query_string_and_another_person_each_have_their_own_part(client, own_team, coordinator):
    active(own_team, given_name="Margaret", family_name="Begum")
    active(own_team, given_name="Joseph", family_name="Evans")
    url = reverse("caseload:list", args=[own_team.slug])
    client.force_login(coordinator)
    client.get(url)
    found = client.get(url, {"q": "Evans"})
    assert not cached(found) and b"Begum" not in found.content

    key_worker = member(own_team, Role.SOCIAL_WORKER)
    client.force_login(key_worker)
    theirs = client.get(url)
    assert not cached(theirs)
    assert (b"Record a referral" in theirs.content) == theirs.context["can_refer"]


def test_losing_the_team_is_a_404_though_the_caseload_was_cached(client, own_team, coordinator):
    url = reverse("caseload:list", args=[own_team.slug])
    client.force_login(coordinator)
    client.get(url)
    assert cached(client.get(url))
    coordinator.memberships.all().delete()
    assert client.get(url).status_code == 404


def test_the_flag_of_a_case_without_contact_for_28_days_appears_when_the_day_comes(client, own_team, coordinator):
    now = datetime.datetime(2026, 3, 12, 9, 0, tzinfo=LONDON)
    with time_machine.travel(now, tick=False):
        resident = active(own_team)
        Resident.objects.filter(pk=resident.pk).update(last_contact_at=now - datetime.timedelta(days=28) + datetime.timedelta(hours=2))
        client.force_login(coordinator)
        url = reverse("caseload:list", args=[own_team.slug])
        client.get(url)
        assert b"Over 28 days" not in client.get(url).content
    with time_machine.travel(now + datetime.timedelta(hours=3), tick=False):
        client.force_login(coordinator)  # the session ended after 30 minutes idle
        later = client.get(url)
        assert not cached(later) and b"Over 28 days" in later.content


def test_the_heatmap_turns_missing_reports_overdue_at_the_deadline_with_no_write(client, own_team):
    lead = member(own_team, Role.PCN_LEAD)
    client.force_login(lead)
    url = reverse("pressure:heatmap")
    wednesday = datetime.datetime(2026, 3, 11, 11, 50, tzinfo=LONDON)  # the reports are due at noon
    with time_machine.travel(wednesday, tick=False):
        client.get(url)
        before = client.get(url)
        assert cached(before) and b"Not yet reported this week" in before.content
    with time_machine.travel(wednesday + datetime.timedelta(minutes=20), tick=False):
        after = client.get(url)
        assert not cached(after) and b"Missing this week" in after.content


def test_a_pressure_report_shows_on_the_cached_heatmap_at_once(client, own_team):
    lead = member(own_team, Role.PCN_LEAD)
    practice = own_team.practices.first()
    client.force_login(lead)
    url = reverse("pressure:heatmap")
    client.get(url)
    assert cached(client.get(url))
    pressure_report_submit(practice=practice, week_start=week_start_of(timezone.localdate()), level=4, by=member(own_team, Role.PRACTICE_MANAGER))
    assert not cached(client.get(url))


def test_a_done_action_leaves_my_actions_at_once_and_the_form_carries_this_sessions_token(client, own_team):
    key_worker = member(own_team, Role.OCCUPATIONAL_THERAPIST)
    action = make_action(active(own_team, key_worker=key_worker), owner=key_worker, description="Ring the falls team")
    client.force_login(key_worker)
    url = reverse("meetings:my_actions")
    client.get(url)
    again = client.get(url)
    assert cached(again) and b"Ring the falls team" in again.content
    assert csrf_tokens_are_this_sessions(client, again)

    Action.objects.filter(pk=action.pk).update(status=Action.Status.DONE)
    after = client.get(url)
    assert not cached(after) and b"Ring the falls team" not in after.content


@pytest.mark.parametrize("url_name", ["caseload:list", "meetings:my_actions", "pressure:heatmap", "kpis:dashboard"])
def test_a_page_cached_for_one_person_is_still_refused_to_another_without_the_right(client, own_team, other_team, url_name):
    args = [own_team.slug] if url_name == "caseload:list" else []
    outsider = member(other_team, Role.PRACTICE_MANAGER)
    client.force_login(member(own_team, Role.COORDINATOR))
    client.get(reverse(url_name, args=args))
    client.force_login(outsider)
    assert client.get(reverse(url_name, args=args)).status_code in (403, 404)


def test_each_opening_of_a_resident_is_logged_and_a_change_shows_at_once(client, own_team, coordinator):
    resident = active(own_team, given_name="Olive", family_name="Begum")
    client.force_login(coordinator)
    url = reverse("caseload:resident", args=[own_team.slug, resident.pk])
    client.get(url)
    again = client.get(url)
    assert cached(again)
    assert ResidentAccess.objects.filter(resident=resident, user=coordinator, page=ResidentAccess.Page.RESIDENT).count() == 2

    Resident.objects.filter(pk=resident.pk).update(referrer="Dr Okafor")
    after = client.get(url)
    assert not cached(after) and b"Dr Okafor" in after.content


def test_each_opening_of_a_cached_agenda_logs_every_resident_on_it(client, own_team, coordinator):
    meeting = make_meeting(own_team)
    residents = [active_resident(own_team, family_name=f"Agenda{n}") for n in range(3)]
    for resident in residents[:2]:
        add_item(meeting, resident)
    client.force_login(coordinator)
    url = reverse("meetings:agenda", args=[own_team.slug, meeting.pk])
    client.get(url)
    assert cached(client.get(url))

    def openings(resident) -> int:
        return ResidentAccess.objects.filter(resident=resident, page=ResidentAccess.Page.INFORMATION_PACK).count()

    assert [openings(r) for r in residents] == [2, 2, 0]

    add_item(meeting, residents[2])
    after = client.get(url)
    assert not cached(after) and b"Agenda2" in after.content
    assert [openings(r) for r in residents] == [3, 3, 1]


def test_the_same_person_in_two_browsers_gets_the_cached_page_with_each_browsers_own_token_and_nonce(own_team, coordinator):
    url = reverse("caseload:list", args=[own_team.slug])
    first, second = Client(), Client()
    first.force_login(coordinator)
    second.force_login(coordinator)
    kept = first.get(url)
    served = second.get(url)
    assert not cached(kept) and cached(served)
    assert csrf_tokens_are_this_sessions(second, served)
    assert first.cookies[settings.CSRF_COOKIE_NAME].value != second.cookies[settings.CSRF_COOKIE_NAME].value
    assert not set(csrf_tokens_of(kept)) & set(csrf_tokens_of(served))
    nonce = re.search(r"'nonce-([^']+)'", served["Content-Security-Policy"]).group(1)
    assert f'nonce="{nonce}"'.encode() in served.content and NONCE_PLACEHOLDER.encode() not in served.content
    assert nonce not in kept.content.decode()


def test_a_message_is_shown_once_on_a_cached_page_and_never_kept_in_it(client, own_team, coordinator):
    url = reverse("caseload:list", args=[own_team.slug])
    client.force_login(coordinator)
    client.get(url)
    assert cached(client.get(url))
    # As a form's view leaves it before redirecting here.
    form_request = HttpRequest()
    form_request.session = client.session
    storage = SessionStorage(form_request)
    storage.add(SUCCESS, "Referral recorded for Olive Begum")
    storage.update(HttpResponse())
    form_request.session.save()
    with_message = client.get(url)
    assert not cached(with_message) and b"Referral recorded for Olive Begum" in with_message.content
    after = client.get(url)
    assert cached(after) and b"Referral recorded" not in after.content


def test_the_header_shows_a_changed_name_and_a_new_team_at_once(client, own_team, other_team, coordinator):
    url = reverse("caseload:list", args=[own_team.slug])
    client.force_login(coordinator)
    client.get(url)
    assert cached(client.get(url))
    coordinator.full_name = "Grace Adeyemi-Okafor"
    coordinator.save(update_fields=["full_name"])
    renamed = client.get(url)
    assert not cached(renamed) and b"Grace Adeyemi-Okafor" in renamed.content
    assert other_team.name.encode() not in renamed.content
    MembershipFactory(user=coordinator, team=other_team, role=Role.SOCIAL_WORKER)
    two_teams = client.get(url)
    assert not cached(two_teams) and other_team.name.encode() in two_teams.content
    assert cached(client.get(url))


def test_an_account_switched_off_or_a_password_changed_elsewhere_is_signed_out_at_once_though_the_person_was_cached(client, own_team, coordinator):
    url = reverse("caseload:list", args=[own_team.slug])
    client.force_login(coordinator)
    client.get(url)
    assert cached(client.get(url))
    User.objects.filter(pk=coordinator.pk).update(is_active=False)  # no signal: only the data version moves
    assert client.get(url).status_code == 302



def test_a_session_from_before_a_password_change_is_refused_though_a_newer_session_put_the_person_in_the_cache(own_team, coordinator):
    url = reverse("caseload:list", args=[own_team.slug])
    before, after = Client(), Client()
    before.force_login(coordinator)
    assert before.get(url).status_code == 200
    coordinator.set_password("a-new-passphrase-2026")
    coordinator.save(update_fields=["password"])
    after.force_login(coordinator)
    assert after.get(url).status_code == 200  # the person as of now, in the cache
    assert before.get(url).status_code == 302
    assert cached(after.get(url))


def test_the_version_a_request_read_is_not_used_inside_a_transaction_of_its_own(db, rf):
    request = rf.get("/caseload/")
    version = data_version_of(request)
    assert version is not None
    with transaction.atomic():
        assert data_version_of(request) is None, "what is read here may yet be rolled back"
    assert data_version_of(request) == version


def test_the_person_kept_in_the_cache_holds_no_password_hash_and_a_save_of_it_keeps_the_password(client, own_team, coordinator):
    from django.core.cache import cache

    from int_app.teams.middleware import person_to_keep

    url = reverse("caseload:list", args=[own_team.slug])
    client.force_login(coordinator)
    assert client.get(url).status_code == 200
    password_hash = User.objects.get(pk=coordinator.pk).password
    redis = cache._cache.get_client()
    kept = redis.mget(redis.keys(f"{cache.key_prefix}*person:{release()}:{coordinator.pk}:*"))
    assert kept, "the person was kept"
    assert all(password_hash.encode() not in raw for raw in kept)
    person, _session_auth_hash = person_to_keep(User.objects.get(pk=coordinator.pk))
    assert "password" in person.get_deferred_fields()
    person.full_name = "Renamed"
    person.save()
    assert User.objects.get(pk=coordinator.pk).password == password_hash, "a save of the kept person leaves the password"
    assert client.get(url).status_code == 200
