import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from int_app.teams.roles import Role
from kpis.models import PressureAlert, PressureReport, week_start_of
from kpis.pressure import build_heatmap, practices_for_heatmap, pressure_report_submit

from ..conftest import member

THIS_WEEK = week_start_of(timezone.localdate())


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
    return client.post(reverse("kpis:pressure_report"), {"practice": practice.pk, "level": level, **extra})


def test_the_practice_manager_reports_this_weeks_pressure(client, manager, managed_practice):
    client.force_login(manager)
    response = report(client, managed_practice, 3, comment="Busy Monday", clinical_staff_absent=1)
    saved = PressureReport.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("kpis:pressure_report_detail", args=[saved.pk])
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
    assert client.get(reverse("kpis:pressure_report")).status_code == 403
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
        response = client.post(reverse("kpis:pressure_report"), {"practice": managed_practice.pk, **bad})
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
    assert "changed by someone else" in response.text and "Flu" in response.text
    assert PressureReport.objects.get().level == 4


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
        from kpis.tasks import email_pressure_alert

        with self.commit_hooks():
            pressure_report_submit(practice=managed_practice, week_start=THIS_WEEK, level=6, by=manager)
        alert = PressureAlert.objects.get()
        assert email_pressure_alert(alert.pk) == 0
        assert len(mailoutbox) == 1

    def test_the_lead_sees_the_banner_until_they_acknowledge_it(self, client, manager, managed_practice, lead):
        pressure_report_submit(practice=managed_practice, week_start=THIS_WEEK, level=6, by=manager)
        client.force_login(lead)
        assert "Practice at level 6" in client.get(reverse("kpis:pressure_heatmap")).text
        alert = PressureAlert.objects.get()
        client.post(reverse("kpis:pressure_alert_acknowledge", args=[alert.pk]))
        alert.refresh_from_db()
        assert alert.acknowledged_by == lead and alert.acknowledged_at is not None
        assert "Practice at level 6" not in client.get(reverse("kpis:pressure_heatmap")).text
        detail = client.get(reverse("kpis:pressure_report_detail", args=[alert.report_id])).text
        assert f"acknowledged by {lead.full_name}" in detail

    def test_only_a_pcn_lead_can_acknowledge(self, client, own_team, manager, managed_practice):
        pressure_report_submit(practice=managed_practice, week_start=THIS_WEEK, level=6, by=manager)
        client.force_login(member(own_team, Role.COORDINATOR))
        alert = PressureAlert.objects.get()
        assert client.post(reverse("kpis:pressure_alert_acknowledge", args=[alert.pk])).status_code == 403
        assert PressureAlert.objects.unacknowledged().count() == 1

    def test_a_practice_name_stored_with_a_line_break_still_reaches_the_lead_on_one_line(
        self, manager, managed_practice, lead, mailoutbox
    ):
        type(managed_practice).objects.filter(pk=managed_practice.pk).update(name="Church Road\r\nSurgery")
        with self.commit_hooks():
            pressure_report_submit(practice=managed_practice, week_start=THIS_WEEK, level=6, by=manager)
        assert [m.subject.split(" is at")[0] for m in mailoutbox] == ["Practice pressure: Church Road Surgery"]
        assert PressureAlert.objects.get().emailed_at is not None

    @staticmethod
    def commit_hooks():
        from django.test import TestCase

        return TestCase.captureOnCommitCallbacks(execute=True)


class TestHeatmap:
    def test_cells_show_the_number_and_the_word(self, client, manager, managed_practice, lead):
        pressure_report_submit(practice=managed_practice, week_start=THIS_WEEK, level=4, by=manager)
        client.force_login(lead)
        page = client.get(reverse("kpis:pressure_heatmap")).text
        assert 'app-pressure--4">4 <span class="app-pressure__label">hot</span>' in page

    def test_deployments_may_rename_the_levels(self, client, settings, manager, managed_practice, lead):
        settings.PRACTICE_PRESSURE_LABELS = ["one", "two", "three", "four", "five", "six"]
        pressure_report_submit(practice=managed_practice, week_start=THIS_WEEK, level=4, by=manager)
        client.force_login(lead)
        assert '4 <span class="app-pressure__label">four</span>' in client.get(reverse("kpis:pressure_heatmap")).text

    def test_practices_without_a_report_by_wednesday_noon_are_missing(self, own_team, lead, manager, managed_practice):
        pressure_report_submit(practice=managed_practice, week_start=THIS_WEEK, level=2, by=manager)
        practices = practices_for_heatmap(lead)
        monday_morning = timezone.make_aware(datetime.datetime.combine(THIS_WEEK, datetime.time(9)))
        wednesday_afternoon = monday_morning + datetime.timedelta(days=2, hours=4)
        before = build_heatmap(practices, now=monday_morning)
        after = build_heatmap(practices, now=wednesday_afternoon)
        assert not before.deadline_passed and after.deadline_passed
        assert [p.pk for p in after.missing] == [p.pk for p in own_team.practices.exclude(pk=managed_practice.pk)]

    def test_the_lead_sees_only_their_own_practices_and_can_filter_by_pcn(self, client, own_team, other_team, lead):
        from tests.factories import PCNFactory, PracticeFactory

        second_pcn = PCNFactory(neighbourhood=own_team.neighbourhood, name="Second PCN")
        PracticeFactory(pcn=second_pcn, name="Far Practice")
        client.force_login(lead)
        page = client.get(reverse("kpis:pressure_heatmap")).text
        assert "Far Practice" in page and other_team.practices.first().name not in page
        own_pcn = own_team.pcns.get(name="Own PCN")
        filtered = client.get(reverse("kpis:pressure_heatmap"), {"pcn": own_pcn.pk}, headers={"HX-Request": "true"})
        assert "Far Practice" not in filtered.text and "<html" not in filtered.text

    def test_the_heatmap_reads_in_a_fixed_number_of_queries(self, client, own_team, lead, django_assert_num_queries):
        from tests.factories import PracticeFactory

        client.force_login(lead)
        url = reverse("kpis:pressure_heatmap")
        client.get(url)
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as few:
            client.get(url)
        pcn = own_team.pcns.first()
        for practice in PracticeFactory.create_batch(10, pcn=pcn):
            PressureReport.objects.create(practice=practice, week_start=THIS_WEEK, level=3, reported_by=lead)
        with CaptureQueriesContext(connection) as many:
            client.get(url)
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
    page = client.get(reverse("meetings:agenda", args=[meeting.pk])).text
    assert "Practice pressure" in page
    import re

    assert re.search(rf'{managed_practice.name}:\s*<span class="app-pressure app-pressure--5">5 <span class="app-pressure__label">nearing boiling point', page)
