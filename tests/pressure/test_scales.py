"""A deployment reports on the ICS bulletin's six levels until a superuser picks another scale (the
GPAS preset, say); old reports keep their level as saved and stay comparable by their OPEL value."""

import datetime
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings as django_settings
from django.urls import reverse

from int_app.teams.roles import Role
from pressure.models import PressureAlert, PressureReport, PressureScale, activity_per_1000
from pressure.scales import COLOURS, Colour, Level, Preset, Scale, preset_scale, scale_problems
from pressure.services import current_scale, pressure_report_submit, pressure_scale_set, pressure_scale_use_preset
from tests.factories import UserFactory

from ..conftest import member

LONDON = ZoneInfo("Europe/London")
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


@pytest.fixture
def superuser(db):
    return UserFactory(is_staff=True, is_superuser=True)


def report(client, practice, level, **extra):
    return client.post(reverse("pressure:report"), {"practice": practice.pk, "level": level, **extra})


class TestPresets:
    def test_the_bulletin_is_the_default_with_its_six_words_and_levels_five_and_six_alerting(self, db):
        scale = current_scale()
        assert [level.label for level in scale.levels] == ["cool", "tepid", "warm", "hot", "nearing boiling point", "vaporising"]
        assert [level.opel for level in scale.levels] == [1, 1, 1, 2, 3, 4]
        assert [level.number for level in scale.alerting] == [5, 6]
        assert scale.name == "ICS bulletin (6 levels)"

    def test_gpas_has_green_amber_red_and_black_as_opel_one_to_four_and_red_and_black_alert(self):
        scale = preset_scale(Preset.GPAS)
        assert [(level.number, level.label, level.opel) for level in scale.levels] == [
            (1, "green", 1), (2, "amber", 2), (3, "red", 3), (4, "black", 4)
        ]
        assert [level.label for level in scale.alerting] == ["red", "black"]
        assert scale.alert_hint() == "1 is the lowest. Levels 3 and 4 alert your PCN lead."

    @pytest.mark.parametrize("preset", list(Preset))
    def test_each_preset_is_a_valid_scale(self, preset):
        assert scale_problems(list(preset_scale(preset).levels)) == []

    def test_the_bulletins_words_still_follow_the_setting(self, db, settings):
        settings.PRACTICE_PRESSURE_LABELS = ["one", "two", "three", "four", "five", "six"]
        assert current_scale().level(4).label == "four"


class TestColours:
    @staticmethod
    def contrast(first: str, second: str) -> float:
        def luminance(hex_colour: str) -> float:
            channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
            linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
            return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

        high, low = sorted((luminance(first), luminance(second)), reverse=True)
        return (high + 0.05) / (low + 0.05)

    @pytest.mark.parametrize("colour", list(Colour))
    def test_every_colour_has_text_that_meets_aa_contrast_and_the_stylesheet_agrees(self, colour):
        background, text = COLOURS[colour]
        assert self.contrast(background, text) >= 4.5
        css = (Path(django_settings.BASE_DIR) / "static" / "css" / "app.css").read_text()
        assert f".app-colour--{colour.value} {{ background: {background}; color: {text}; }}" in css


class TestScaleRules:
    def level(self, number, label, opel, colour=Colour.RED, alerts=False):
        return Level(number, label, colour, opel, alerts)

    def test_a_scale_is_numbered_from_one_without_gaps(self):
        problems = scale_problems([self.level(1, "calm", 1), self.level(3, "busy", 2)])
        assert problems == ["The levels are numbered 1, 2, 3 … from the lowest, with none missed."]

    def test_opel_never_falls_as_the_level_rises(self):
        problems = scale_problems([self.level(1, "calm", 2), self.level(2, "busy", 1)])
        assert problems == ["A higher level cannot map to a lower OPEL value than the level below it."]

    def test_words_are_unique_and_colours_from_the_palette(self):
        problems = scale_problems([self.level(1, "Busy", 1), self.level(2, "busy", 2, colour="mauve")])
        assert problems == ["Two levels have the same word.", "Every level needs a colour from the list."]

    def test_one_level_or_seven_is_refused(self):
        assert scale_problems([self.level(1, "only", 1)])[0].startswith("A scale has from 2 to 6 levels")
        seven = [self.level(n, f"l{n}", min(n, 4)) for n in range(1, 8)]
        assert scale_problems(seven)[0] == "A scale has from 2 to 6 levels; this one has 7."


class TestTheAdmin:
    def admin_form(self, name, levels, *, preset="", existing=None):
        data = {
            "name": name,
            "use_preset": preset,
            "levels-TOTAL_FORMS": str(len(levels)),
            "levels-INITIAL_FORMS": "0",
            "levels-MIN_NUM_FORMS": "0",
            "levels-MAX_NUM_FORMS": "6",
        }
        for index, (number, label, colour, opel, alerts) in enumerate(levels):
            data |= {
                f"levels-{index}-number": number, f"levels-{index}-label": label, f"levels-{index}-colour": colour,
                f"levels-{index}-opel": opel,
            }
            if alerts:
                data[f"levels-{index}-alerts"] = "on"
        return data

    def test_a_superuser_picks_the_gpas_preset_and_the_report_form_offers_its_four_levels(
        self, client, superuser, manager
    ):
        client.force_login(superuser)
        response = client.post(reverse("admin:pressure_pressurescale_add"), self.admin_form("Devon", [], preset=Preset.GPAS))
        assert response.status_code == 302
        assert PressureScale.objects.get().preset == Preset.GPAS
        client.force_login(manager)
        page = client.get(reverse("pressure:report")).text
        assert re.findall(r'app-pressure-swatch (app-colour--[a-z-]+)" aria-hidden="true"></span> (\d – \w+)', page) == [
            ("app-colour--light-green", "1 – green"), ("app-colour--warm-yellow", "2 – amber"),
            ("app-colour--red", "3 – red"), ("app-colour--black", "4 – black"),
        ]
        assert "Levels 3 and 4 alert your PCN lead." in page

    def test_the_superuser_opens_the_scale_again_and_the_heatmap_shows_its_legend(self, client, superuser, lead):
        pressure_scale_use_preset(preset=Preset.GPAS)
        client.force_login(superuser)
        change = client.get(reverse("admin:pressure_pressurescale_change", args=[1]))
        assert change.status_code == 200 and 'value="amber"' in change.text
        assert client.get(reverse("admin:pressure_pressurescale_changelist")).status_code == 200
        assert client.get(reverse("admin:pressure_pressurescale_add")).status_code == 403, "one scale per deployment"
        client.force_login(lead)
        legend = client.get(reverse("pressure:heatmap")).text
        assert "The GPAS / GP OPEL (4: green, amber, red, black) scale" in legend
        assert 'app-pressure app-colour--warm-yellow app-pressure--2">2 <span class="app-pressure__label">amber</span>' in legend

    def test_a_scale_with_a_gap_is_refused_with_a_message_and_nothing_is_saved(self, client, superuser):
        client.force_login(superuser)
        levels = [(1, "calm", "light-green", 1, False), (3, "stretched", "red", 3, True)]
        response = client.post(reverse("admin:pressure_pressurescale_add"), self.admin_form("Ours", levels))
        assert response.status_code == 200 and "with none missed" in response.text
        assert not PressureScale.objects.exists()
        assert current_scale().name == "ICS bulletin (6 levels)"

    def test_a_superuser_sets_their_own_three_levels(self, client, superuser):
        client.force_login(superuser)
        levels = [(1, "calm", "light-green", 1, False), (2, "stretched", "orange", 2, False), (3, "critical", "dark-red", 4, True)]
        response = client.post(reverse("admin:pressure_pressurescale_add"), self.admin_form("Our LMC", levels))
        assert response.status_code == 302
        scale = current_scale()
        assert (scale.name, [level.label for level in scale.levels], [level.label for level in scale.alerting]) == (
            "Our LMC", ["calm", "stretched", "critical"], ["critical"]
        )

    def test_a_staff_member_who_is_not_a_superuser_cannot_open_the_scale(self, client, own_team):
        staff = member(own_team, Role.COORDINATOR)
        staff.is_staff = True
        staff.save(update_fields=["is_staff"])
        client.force_login(staff)
        assert client.get(reverse("admin:pressure_pressurescale_add")).status_code == 403


class TestAChangeOfScale:
    def test_old_reports_keep_their_level_and_opel_and_every_page_still_works(
        self, client, own_team, manager, managed_practice, lead, coordinator
    ):
        last_week = THIS_WEEK - datetime.timedelta(weeks=1)
        with time_machine.travel(THURSDAY - datetime.timedelta(weeks=1), tick=False):
            old = pressure_report_submit(practice=managed_practice, week_start=last_week, level=6, by=manager)
        pressure_scale_use_preset(preset=Preset.GPAS)
        neighbour = own_team.practices.exclude(pk=managed_practice.pk).get()
        new = pressure_report_submit(practice=neighbour, week_start=THIS_WEEK, level=4, by=coordinator)

        old.refresh_from_db()
        assert (old.level, old.label, old.opel, old.colour_class) == (6, "vaporising", 4, "app-colour--purple")
        assert (new.level, new.label, new.opel, new.colour_class) == (4, "black", 4, "app-colour--black")
        client.force_login(lead)
        detail = client.get(reverse("pressure:report_detail", args=[old.pk]))
        assert detail.status_code == 200 and "6 <span class=\"app-pressure__label\">vaporising</span>" in detail.text
        heatmap = client.get(reverse("pressure:heatmap"))
        assert heatmap.status_code == 200 and "vaporising" in heatmap.text and "black" in heatmap.text
        assert "Practice at level 6" in heatmap.text, "the old alert's banner shows its level as saved"
        assert client.get(reverse("pressure:sitrep"), {"week": last_week.isoformat()}).status_code == 200

    def test_no_stored_value_can_make_a_page_fail(self, client, manager, managed_practice, lead):
        pressure_scale_use_preset(preset=Preset.GPAS)
        odd = PressureReport.objects.create(
            practice=managed_practice, week_start=THIS_WEEK, level=6, level_label="", level_colour="mauve", opel=4,
            reported_by=manager, alerting=True,
        )
        PressureAlert.objects.create(report=odd, level=6, level_colour="mauve")
        client.force_login(lead)
        for url in (reverse("pressure:heatmap"), reverse("pressure:report_detail", args=[odd.pk]), reverse("pressure:sitrep")):
            response = client.get(url)
            assert response.status_code == 200 and "app-colour--none" in response.text, url
        client.force_login(manager)
        form = client.get(reverse("pressure:report"))
        # Level 6 is not on the four-level scale: the form opens with no level chosen.
        assert form.status_code == 200 and " checked" not in form.text

    def test_the_new_scale_decides_which_levels_alert(self, manager, managed_practice, mailoutbox, lead):
        from django.test import TestCase

        pressure_scale_use_preset(preset=Preset.GPAS)
        with TestCase.captureOnCommitCallbacks(execute=True):
            pressure_report_submit(practice=managed_practice, week_start=THIS_WEEK, level=2, by=manager)
        assert not PressureAlert.objects.exists()
        with TestCase.captureOnCommitCallbacks(execute=True):
            pressure_report_submit(practice=managed_practice, week_start=THIS_WEEK, level=3, by=manager)
        alert = PressureAlert.objects.get()
        assert (alert.level, alert.label, alert.opel) == (3, "red", 3)
        assert mailoutbox[0].subject == f"Practice pressure: {managed_practice.name} is at level 3 (red)"

    def test_a_level_the_scale_does_not_have_is_refused(self, client, manager, managed_practice):
        pressure_scale_use_preset(preset=Preset.GPAS)
        client.force_login(manager)
        response = report(client, managed_practice, 5)
        assert response.status_code == 200 and "Select a valid choice" in response.text
        assert not PressureReport.objects.exists()

    def test_setting_an_invalid_scale_changes_nothing(self, db):
        from django.core.exceptions import ValidationError

        with pytest.raises(ValidationError):
            pressure_scale_set(scale=Scale("Broken", (Level(1, "only", Colour.RED, 1, True),)))
        assert not PressureScale.objects.exists()


class TestIndicators:
    def test_a_report_carries_appointments_staff_and_free_text_and_gives_activity_per_1000(
        self, client, manager, managed_practice
    ):
        managed_practice.list_size = 8_000
        managed_practice.save(update_fields=["list_size"])
        client.force_login(manager)
        response = report(
            client, managed_practice, 3, appointments_offered=120, clinical_staff_available=7, comment="Two GPs on leave"
        )
        saved = PressureReport.objects.get()
        assert response.status_code == 302
        assert (saved.appointments_offered, saved.clinical_staff_available, saved.comment) == (120, 7, "Two GPs on leave")
        assert saved.activity_per_1000 == 15.0
        assert saved.changes.get().appointments_offered == 120
        page = client.get(response["Location"]).text
        assert re.search(r"Activity per 1,000 patients</dt>\s*<dd[^>]*>15.0</dd>", page)

    @pytest.mark.parametrize(
        "bad, message",
        [
            ({"appointments_offered": -1}, "greater than or equal to 0"),
            ({"appointments_offered": 10_001}, "less than or equal to 10000"),
            ({"clinical_staff_available": "seven"}, "Enter a whole number"),
            ({"clinical_staff_available": 1_001}, "less than or equal to 1000"),
            ({"comment": "x" * 2001}, "at most 2000 characters"),
        ],
    )
    def test_bad_figures_are_refused_with_a_message_and_nothing_is_saved(self, client, manager, managed_practice, bad, message):
        client.force_login(manager)
        response = report(client, managed_practice, 3, **bad)
        assert response.status_code == 200 and "There is a problem" in response.text and message in response.text
        assert not PressureReport.objects.exists()

    def test_the_database_holds_the_figures_in_range_too(self, manager, managed_practice):
        from django.db import IntegrityError

        with pytest.raises(IntegrityError):
            PressureReport.objects.create(
                practice=managed_practice, week_start=THIS_WEEK, level=1, opel=1, appointments_offered=10_001, reported_by=manager
            )

    def test_activity_per_1000_needs_both_figures(self):
        assert activity_per_1000(45, 3_000) == 15.0
        assert activity_per_1000(None, 3_000) is None
        assert activity_per_1000(45, None) is None
        assert activity_per_1000(45, 0) is None
