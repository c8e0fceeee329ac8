import datetime
import re
import threading
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from int_app.teams.roles import Role
from pressure.models import PressureAlert, PressureReport
from pressure.services import build_heatmap, practices_for_heatmap, pressure_report_submit

from ..conftest import member

LONDON = ZoneInfo("Europe/London")
# Every test here runs on the Thursday of one week, so "this week" never depends on the day the
# suite runs (tests/test_date_rules.py runs the week's rules at every kind of moment).
THIS_WEEK = datetime.date(2026, 3, 9)
THURSDAY = datetime.datetime(2026, 3, 12, 10, 0, tzinfo=LONDON)


@pytest.fixture(autouse=True)
def _on_a_thursday():
    with time_machine.travel(THURSDAY, tick=True):
        yield


@pytest.fixture
def manager(own_team):
    return member(own_team, Role.PRACTICE_MANAGER)


@pytest.fixture
def managed_practice(manager):
    return manager.memberships.get().practice


@pytest.fixture
def lead(own_team):
    return member(own_team, Role.PCN_LEAD)


def report(client, practice, level, **extra):
    return client.post(reverse("pressure:report"), {"practice": practice.pk, "level": level, **extra})


def test_the_practice_manager_reports_this_weeks_pressure(client, manager, managed_practice):
    client.force_login(manager)
    response = report(client, managed_practice, 3, comment="Busy Monday", clinical_staff_absent=1)
    saved = PressureReport.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("pressure:report_detail", args=[saved.pk])
    assert (saved.practice, saved.week_start, saved.level, saved.label) == (managed_practice, THIS_WEEK, 3, "warm")
    assert saved.clinical_staff_absent == 1


def test_a_second_report_in_the_same_week_changes_the_one_report_and_keeps_both(client, manager, managed_practice):
    client.force_login(manager)
    report(client, managed_practice, 2)
    existing = PressureReport.objects.get()
    report(client, managed_practice, 4, version=existing.version)
    saved = PressureReport.objects.get()
    assert saved.level == 4 and saved.version == 2
    assert list(saved.changes.values_list("level", flat=True)) == [4, 2]


def test_the_database_refuses_two_reports_for_one_practice_week(manager, managed_practice):
    from django.db import IntegrityError

    PressureReport.objects.create(practice=managed_practice, week_start=THIS_WEEK, level=2, reported_by=manager)
    with pytest.raises(IntegrityError):
        PressureReport.objects.create(practice=managed_practice, week_start=THIS_WEEK, level=3, reported_by=manager)


def test_a_manager_cannot_report_for_another_practice(client, own_team, manager, managed_practice):
    neighbour = own_team.practices.exclude(pk=managed_practice.pk).first()
    client.force_login(manager)
    response = report(client, neighbour, 2)
    assert response.status_code == 200 and "Select a valid choice" in response.text
    assert not PressureReport.objects.exists()
    with pytest.raises(PermissionDenied):
        pressure_report_submit(practice=neighbour, week_start=THIS_WEEK, level=2, by=manager)


def test_the_coordinator_reports_on_behalf_of_any_practice_of_the_team(client, own_team, coordinator):
    neighbour = own_team.practices.last()
    client.force_login(coordinator)
    report(client, neighbour, 1)
    assert PressureReport.objects.get().reported_by == coordinator


@pytest.mark.parametrize("role", [Role.GP, Role.PCN_LEAD, Role.SOCIAL_WORKER])
def test_other_roles_cannot_report(client, own_team, role):
    client.force_login(member(own_team, role))
    assert client.get(reverse("pressure:report")).status_code == 403
    assert report(client, own_team.practices.first(), 6).status_code == 403
    assert not PressureReport.objects.exists()


def test_another_teams_coordinator_cannot_report_for_our_practice(client, outsider, managed_practice):
    client.force_login(outsider)
    response = report(client, managed_practice, 6)
    assert response.status_code == 200 and "Select a valid choice" in response.text
    assert not PressureReport.objects.exists()


def test_nonsense_input_is_refused_with_a_message_and_changes_nothing(client, manager, managed_practice):
    client.force_login(manager)
    for bad in ({"level": 7}, {"level": "hot"}, {"level": 3, "clinical_staff_absent": -1}):
        response = client.post(reverse("pressure:report"), {"practice": managed_practice.pk, **bad})
        assert response.status_code == 200 and "There is a problem" in response.text
    assert not PressureReport.objects.exists()


def test_an_ended_week_can_no_longer_be_changed(manager, managed_practice):
    last_week = THIS_WEEK - datetime.timedelta(weeks=1)
    PressureReport.objects.create(practice=managed_practice, week_start=last_week, level=2, reported_by=manager)
    with pytest.raises(ValidationError, match="week has ended"):
        pressure_report_submit(practice=managed_practice, week_start=last_week, level=5, by=manager)
    assert PressureReport.objects.get().level == 2


def test_a_stale_edit_is_refused_and_shows_the_other_version(client, manager, own_team, managed_practice):
    coordinator = member(own_team, Role.COORDINATOR)
    pressure_report_submit(practice=managed_practice, week_start=THIS_WEEK, level=2, by=manager)
    pressure_report_submit(practice=managed_practice, week_start=THIS_WEEK, level=4, by=coordinator, comment="Flu")
    client.force_login(manager)
    response = report(client, managed_practice, 1, version=1)
    assert response.status_code == 409
    assert "Someone else saved this week" in response.text and "Flu" in response.text
    assert PressureReport.objects.get().level == 4


# A Tuesday morning, inside the week's reporting window.
TUESDAY = datetime.datetime(2026, 3, 10, 10, 0, tzinfo=LONDON)


def open_the_form(client) -> str:
    """The version the opened form will send back: empty when it shows no report yet."""
    page = client.get(reverse("pressure:report"))
    assert page.status_code == 200
    return re.search(r'name="version"(?: value="(\d*)")?', page.text).group(1) or ""


def both_versions(page: str) -> tuple[str, str]:
    """What the conflict table shows as theirs (saved) and as yours (not saved), for the level."""
    row = re.search(r'app-conflict__theirs">(.*?)</td><td class="nhsuk-table__cell app-conflict__yours">(.*?)</td>', page, re.DOTALL)
    assert row, "the page shows no conflict table"
    return tuple(" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in row.groups())


def test_two_people_fill_in_the_empty_form_the_first_saves_and_the_second_sees_both_versions(manager, coordinator, managed_practice):
    with time_machine.travel(TUESDAY, tick=False):
        first, second = Client(), Client()
        first.force_login(manager)
        second.force_login(coordinator)
        first_version, second_version = open_the_form(first), open_the_form(second)
        assert first_version == second_version == "", "the form opens empty: there is no report this week yet"

        saved = report(first, managed_practice, 5, comment="Two GPs off", version=first_version)
        refused = report(second, managed_practice, 2, comment="Quiet so far", version=second_version)

        assert saved.status_code == 302
        assert refused.status_code == 409, "the second save is refused, not a silent overwrite"
        assert "Someone else saved this week" in refused.text and "Nothing you entered was saved" in refused.text
        assert both_versions(refused.text) == ("5 nearing boiling point", "2 tepid")
        assert "Two GPs off" in refused.text and "Quiet so far" in refused.text
        report_now = PressureReport.objects.get()
        assert (report_now.level, report_now.comment, report_now.version, report_now.changes.count()) == (5, "Two GPs off", 1, 1)
        # The refusal's form carries their version: saving again, having seen theirs, is a choice.
        assert re.search(rf'name="version" value="{report_now.version}"', refused.text)
        again = report(second, managed_practice, 4, comment="Both sites busy", version=report_now.version)
        assert again.status_code == 302 and PressureReport.objects.get().level == 4


def test_four_first_reports_at_once_save_one_and_refuse_three_without_a_server_error(transactional_db, own_team, managed_practice):
    from django.db import connection, transaction

    from int_app.teams.models import Practice

    from ..factories import MembershipFactory, UserFactory

    reporters = [member(own_team, Role.PRACTICE_MANAGER), member(own_team, Role.COORDINATOR)] + [
        MembershipFactory(team=own_team, role=Role.PRACTICE_MANAGER, practice=managed_practice, user=UserFactory()).user
        for _ in range(2)
    ]
    with time_machine.travel(TUESDAY, tick=True):
        clients = []
        for person in reporters:
            client = Client(raise_request_exception=False)
            client.force_login(person)
            clients.append((client, open_the_form(client)))
        answers: list[int] = []

        def save(client: Client, version: str, level: int) -> None:
            try:
                answers.append(report(client, managed_practice, level, version=version).status_code)
            finally:
                connection.close()

        threads = [threading.Thread(target=save, args=(client, version, level)) for level, (client, version) in enumerate(clients, 1)]
        # Hold the practice row, which a new report's foreign key must lock to commit: all four
        # saves read "no report yet" and insert before any of them can commit.
        with transaction.atomic():
            Practice.objects.select_for_update().get(pk=managed_practice.pk)
            for thread in threads:
                thread.start()
            waiting_saves(4)
        for thread in threads:
            thread.join(timeout=30)

    assert sorted(answers) == [302, 409, 409, 409], answers
    saved = PressureReport.objects.get()
    assert saved.version == 1 and saved.changes.count() == 1


def waiting_saves(count: int) -> None:
    """Wait until `count` other sessions of this database wait for a lock: each save has read "no
    report yet"; the first waits at its commit (to check the practice), the others at their insert
    (for the first's one report of the week)."""
    import time

    from django.db import connection

    deadline = time.monotonic() + 30
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # otherwise the view is read once per transaction
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0] >= count:
                return
            time.sleep(0.05)
    raise AssertionError(f"{count} saves never reached the database together")


class TestAlerts:
    def test_reaching_level_five_emails_the_pcn_lead_once(self, manager, managed_practice, lead, mailoutbox):
        pressure_report_submit(practice=managed_practice, week_start=THIS_WEEK, level=3, by=manager)
        assert not PressureAlert.objects.exists()
        with self.commit_hooks():
            pressure_report_submit(practice=managed_practice, week_start=THIS_WEEK, level=5, by=manager)
        assert PressureAlert.objects.count() == 1
        assert [m.to for m in mailoutbox] == [[lead.email]]
        assert "level 5" in mailoutbox[0].subject

    def test_editing_within_the_top_levels_does_not_alert_again(self, manager, managed_practice, mailoutbox):
        with self.commit_hooks():
            pressure_report_submit(practice=managed_practice, week_start=THIS_WEEK, level=5, by=manager)
            pressure_report_submit(practice=managed_practice, week_start=THIS_WEEK, level=6, by=manager)
            pressure_report_submit(practice=managed_practice, week_start=THIS_WEEK, level=6, by=manager, comment="still")
        assert PressureAlert.objects.count() == 1 and len(mailoutbox) == 1

    def test_falling_back_and_rising_again_is_a_new_escalation(self, manager, managed_practice, mailoutbox):
        with self.commit_hooks():
            for level in (6, 3, 5):
                pressure_report_submit(practice=managed_practice, week_start=THIS_WEEK, level=level, by=manager)
        assert list(PressureAlert.objects.order_by("raised_at").values_list("level", flat=True)) == [6, 5]
        assert len(mailoutbox) == 2

    def test_the_email_task_can_run_twice_and_sends_once(self, manager, managed_practice, mailoutbox):
        from pressure.tasks import email_pressure_alert

        with self.commit_hooks():
            pressure_report_submit(practice=managed_practice, week_start=THIS_WEEK, level=6, by=manager)
        alert = PressureAlert.objects.get()
        assert email_pressure_alert(alert.pk) == 0
        assert len(mailoutbox) == 1

    def test_the_lead_sees_the_banner_until_they_acknowledge_it(self, client, manager, managed_practice, lead):
        pressure_report_submit(practice=managed_practice, week_start=THIS_WEEK, level=6, by=manager)
        client.force_login(lead)
        assert "Practice at level 6" in client.get(reverse("pressure:heatmap")).text
        alert = PressureAlert.objects.get()
        client.post(reverse("pressure:alert_acknowledge", args=[alert.pk]))
        alert.refresh_from_db()
        assert alert.acknowledged_by == lead and alert.acknowledged_at is not None
        assert "Practice at level 6" not in client.get(reverse("pressure:heatmap")).text
        detail = client.get(reverse("pressure:report_detail", args=[alert.report_id])).text
        assert f"acknowledged by {lead.full_name}" in detail

    def test_only_a_pcn_lead_can_acknowledge(self, client, own_team, manager, managed_practice):
        pressure_report_submit(practice=managed_practice, week_start=THIS_WEEK, level=6, by=manager)
        client.force_login(member(own_team, Role.COORDINATOR))
        alert = PressureAlert.objects.get()
        # Its address names no team, so an alert they may not acknowledge is not found (ADR 0009).
        assert client.post(reverse("pressure:alert_acknowledge", args=[alert.pk])).status_code == 404
        assert PressureAlert.objects.unacknowledged().count() == 1

    def test_a_practice_name_stored_with_a_line_break_still_reaches_the_lead_on_one_line(
        self, manager, managed_practice, lead, mailoutbox
    ):
        type(managed_practice).objects.filter(pk=managed_practice.pk).update(name="Church Road\r\nSurgery")
        with self.commit_hooks():
            pressure_report_submit(practice=managed_practice, week_start=THIS_WEEK, level=6, by=manager)
        assert [m.subject.split(" is at")[0] for m in mailoutbox] == ["Practice pressure: Church Road Surgery"]
        assert PressureAlert.objects.get().emailed_at is not None

    # The banner is on the heatmap, the KPI dashboard and the lead's home page alike.
    BANNER_PAGES = ("pressure:heatmap", "kpis:dashboard", "home")

    @pytest.mark.parametrize("page", BANNER_PAGES)
    def test_the_pcn_lead_sees_the_level_six_banner_and_acknowledges_it_from_the_page(self, client, manager, managed_practice, lead, page):
        pressure_report_submit(practice=managed_practice, week_start=THIS_WEEK, level=6, by=manager, comment="Three GPs off")
        client.force_login(lead)

        shown = client.get(reverse(page)).text

        assert "Practice at level 6" in shown and f"{managed_practice.name} ({managed_practice.pcn.name}) reported" in shown
        alert = PressureAlert.objects.get()
        assert reverse("pressure:alert_acknowledge", args=[alert.pk]) in shown, "the lead may acknowledge it here"
        client.post(reverse("pressure:alert_acknowledge", args=[alert.pk]))
        assert "Practice at level 6" not in client.get(reverse(page)).text

    @pytest.mark.parametrize("page", BANNER_PAGES)
    def test_the_coordinator_sees_the_banner_but_leaves_acknowledging_to_the_lead(self, client, manager, managed_practice, coordinator, page):
        pressure_report_submit(practice=managed_practice, week_start=THIS_WEEK, level=5, by=manager)
        client.force_login(coordinator)
        shown = client.get(reverse(page)).text
        assert "Practice at level 5" in shown
        assert "Acknowledge" not in shown

    @pytest.mark.parametrize("role", [Role.GP, Role.SOCIAL_WORKER, Role.PRACTICE_MANAGER])
    def test_team_members_without_the_right_to_view_pressure_see_no_banner_at_home(self, client, own_team, manager, managed_practice, role):
        pressure_report_submit(practice=managed_practice, week_start=THIS_WEEK, level=6, by=manager)
        client.force_login(member(own_team, role))
        assert "Practice at level 6" not in client.get(reverse("home")).text

    @pytest.mark.parametrize("page", BANNER_PAGES)
    def test_another_teams_pcn_lead_sees_no_banner_for_our_practice(self, client, manager, managed_practice, other_team, page):
        pressure_report_submit(practice=managed_practice, week_start=THIS_WEEK, level=6, by=manager)
        client.force_login(member(other_team, Role.PCN_LEAD))
        response = client.get(reverse(page))
        assert response.status_code == 200 and "Practice at level 6" not in response.text
        assert managed_practice.name not in response.text

    def test_a_coordinator_here_and_pcn_lead_there_acknowledges_only_the_other_teams_alert(
        self, client, own_team, other_team, manager, managed_practice
    ):
        from tests.factories import MembershipFactory

        person = member(own_team, Role.COORDINATOR)
        MembershipFactory(team=other_team, user=person, role=Role.PCN_LEAD)
        their_manager = member(other_team, Role.PRACTICE_MANAGER)
        pressure_report_submit(practice=managed_practice, week_start=THIS_WEEK, level=6, by=manager)
        pressure_report_submit(practice=their_manager.memberships.get().practice, week_start=THIS_WEEK, level=5, by=their_manager)
        ours, theirs = PressureAlert.objects.get(level=6), PressureAlert.objects.get(level=5)
        client.force_login(person)

        shown = client.get(reverse("home")).text

        assert "Practice at level 6" in shown and "Practice at level 5" in shown, "they view pressure in both teams"
        assert reverse("pressure:alert_acknowledge", args=[theirs.pk]) in shown
        assert reverse("pressure:alert_acknowledge", args=[ours.pk]) not in shown, "a coordinator here leaves it to the lead"
        assert client.post(reverse("pressure:alert_acknowledge", args=[ours.pk])).status_code == 404
        assert client.post(reverse("pressure:alert_acknowledge", args=[theirs.pk])).status_code == 302
        assert list(PressureAlert.objects.unacknowledged()) == [ours]

    def test_the_alert_email_goes_to_the_practices_pcn_lead_not_to_a_lead_of_another_team_who_works_here(
        self, own_team, other_team, manager, managed_practice, lead, mailoutbox
    ):
        from tests.factories import MembershipFactory

        lead_there = member(other_team, Role.PCN_LEAD)
        MembershipFactory(team=own_team, user=lead_there, role=Role.OCCUPATIONAL_THERAPIST)
        with self.commit_hooks():
            pressure_report_submit(practice=managed_practice, week_start=THIS_WEEK, level=6, by=manager)
        assert [m.to for m in mailoutbox] == [[lead.email]]

    @staticmethod
    def commit_hooks():
        from django.test import TestCase

        return TestCase.captureOnCommitCallbacks(execute=True)


class TestHeatmap:
    def test_cells_show_the_number_and_the_word(self, client, manager, managed_practice, lead):
        pressure_report_submit(practice=managed_practice, week_start=THIS_WEEK, level=4, by=manager)
        client.force_login(lead)
        page = client.get(reverse("pressure:heatmap")).text
        assert 'app-pressure--4">4 <span class="app-pressure__label">hot</span>' in page

    def test_deployments_may_rename_the_levels(self, client, settings, manager, managed_practice, lead):
        settings.PRACTICE_PRESSURE_LABELS = ["one", "two", "three", "four", "five", "six"]
        pressure_report_submit(practice=managed_practice, week_start=THIS_WEEK, level=4, by=manager)
        client.force_login(lead)
        assert '4 <span class="app-pressure__label">four</span>' in client.get(reverse("pressure:heatmap")).text

    def test_practices_without_a_report_by_wednesday_noon_are_missing(self, own_team, lead, manager, managed_practice):
        pressure_report_submit(practice=managed_practice, week_start=THIS_WEEK, level=2, by=manager)
        practices = practices_for_heatmap(lead)
        monday_morning = timezone.make_aware(datetime.datetime.combine(THIS_WEEK, datetime.time(9)))
        wednesday_afternoon = monday_morning + datetime.timedelta(days=2, hours=4)
        before = build_heatmap(practices, now=monday_morning)
        after = build_heatmap(practices, now=wednesday_afternoon)
        assert not before.deadline_passed and after.deadline_passed
        assert [p.pk for p in after.missing] == [p.pk for p in own_team.practices.exclude(pk=managed_practice.pk)]

    def test_a_practice_the_ods_has_closed_is_not_missing(self, own_team, lead, managed_practice):
        closing = own_team.practices.exclude(pk=managed_practice.pk).get()
        wednesday_afternoon = timezone.make_aware(datetime.datetime.combine(THIS_WEEK, datetime.time(13))) + datetime.timedelta(days=2)
        assert closing in build_heatmap(practices_for_heatmap(lead), now=wednesday_afternoon).missing
        closing.status = closing.Status.CLOSED
        closing.save(update_fields=["status"])
        assert [p.pk for p in build_heatmap(practices_for_heatmap(lead), now=wednesday_afternoon).missing] == [managed_practice.pk]

    def test_the_lead_sees_only_their_own_practices_and_can_filter_by_pcn(self, client, own_team, other_team, lead):
        from tests.factories import PCNFactory, PracticeFactory

        second_pcn = PCNFactory(neighbourhood=own_team.neighbourhood, name="Second PCN")
        PracticeFactory(pcn=second_pcn, name="Far Practice")
        client.force_login(lead)
        page = client.get(reverse("pressure:heatmap")).text
        assert "Far Practice" in page and other_team.practices.first().name not in page
        own_pcn = own_team.pcns.get(name="Own PCN")
        filtered = client.get(reverse("pressure:heatmap"), {"pcn": own_pcn.pk}, headers={"HX-Request": "true"})
        assert "Far Practice" not in filtered.text and "<html" not in filtered.text

    def test_a_pcn_lead_here_and_occupational_therapist_there_sees_only_this_teams_pressure(
        self, client, own_team, other_team, lead, manager, managed_practice
    ):
        from tests.factories import MembershipFactory

        MembershipFactory(team=other_team, user=lead, role=Role.OCCUPATIONAL_THERAPIST)
        theirs = other_team.practices.order_by("pk").first()
        their_manager = member(other_team, Role.PRACTICE_MANAGER)
        their_report = pressure_report_submit(
            practice=their_manager.memberships.get().practice, week_start=THIS_WEEK, level=6, by=their_manager,
            comment="Their comment: three GPs off",
        )
        pressure_report_submit(practice=managed_practice, week_start=THIS_WEEK, level=2, by=manager)
        client.force_login(lead)

        heatmap = client.get(reverse("pressure:heatmap")).text
        assert managed_practice.name in heatmap
        assert theirs.name not in heatmap and "Other PCN" not in heatmap, "the other team's practices or PCN filter"
        assert "Practice at level 6" not in heatmap and "Practice at level 6" not in client.get(reverse("home")).text
        detail = client.get(reverse("pressure:report_detail", args=[their_report.pk]))
        # The report's address names no team: a report they may not read is not found.
        assert detail.status_code == 404 and "Their comment" not in detail.text
        by_filter = client.get(reverse("pressure:heatmap"), {"pcn": other_team.pcns.get().pk})
        assert theirs.name not in by_filter.text

    def test_the_heatmap_reads_in_a_fixed_number_of_queries(self, client, own_team, lead, django_assert_num_queries):
        from tests.factories import PracticeFactory

        client.force_login(lead)
        url = reverse("pressure:heatmap")
        client.get(url)
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        # Each measured request at an address of its own, so the heatmap is built, not taken from the cache.
        with CaptureQueriesContext(connection) as few:
            client.get(url, {"request": 1})
        pcn = own_team.pcns.first()
        for practice in PracticeFactory.create_batch(10, pcn=pcn):
            PressureReport.objects.create(practice=practice, week_start=THIS_WEEK, level=3, reported_by=lead)
        client.get(url)  # after the writes, the person is read again once (keyed on the data version), as before the first count
        with CaptureQueriesContext(connection) as many:
            client.get(url, {"request": 2})
        assert len(many) == len(few)


def test_the_demo_has_twelve_weeks_and_a_practice_at_level_six(db, settings):
    from django.core.management import call_command

    settings.DEMO_MODE = True
    call_command("seed_demo")
    call_command("seed_demo")
    weeks = PressureReport.objects.values("week_start").distinct().count()
    assert weeks == 12
    assert PressureReport.objects.filter(week_start=THIS_WEEK, level=6).count() == 1
    assert PressureAlert.objects.unacknowledged().get().level == 6


def test_the_agenda_shows_the_pressure_of_each_practice_with_a_resident_on_it(client, own_team, coordinator, manager, managed_practice):
    from tests.meetings.factories import add_item, make_meeting, referred_resident

    pressure_report_submit(practice=managed_practice, week_start=THIS_WEEK, level=5, by=manager)
    meeting = make_meeting(own_team)
    add_item(meeting, referred_resident(own_team, practice=managed_practice))
    client.force_login(coordinator)
    page = client.get(reverse("meetings:agenda", args=[meeting.team.slug, meeting.pk])).text
    assert "Practice pressure" in page
    import re

    assert re.search(
        rf'{managed_practice.name}:\s*<span class="app-pressure app-colour--red app-pressure--5">5 <span class="app-pressure__label">nearing boiling point',
        page,
    )
