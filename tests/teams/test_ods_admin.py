"""A staff admin loads the ODS files and list sizes from the admin: a preview first, then the load.
Admin URLs need no access-matrix rows (the admin's own login guards them); who may use this page
is tested here, as tests/teams/test_admin.py does for the rest of the admin."""

import datetime as dt
import os
import time
import zoneinfo
from pathlib import Path

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from int_app.teams.models import PCN, Place, Practice
from int_app.teams.roles import Role

from ..conftest import member
from ..factories import UserFactory
from .test_admin import staff_admin_of

SAMPLES = Path(__file__).parent / "ods"
NOW = dt.datetime(2026, 12, 7, 10, 0, tzinfo=zoneinfo.ZoneInfo("Europe/London"))
IMPORT = reverse("admin:teams_practice_import")


@pytest.fixture(autouse=True)
def setting_up(db, settings, tmp_path):
    settings.INT_IMPORT_DIR = tmp_path / "imports"
    Place.objects.create(name="Birmingham", ods_sub_icb_codes=["15E"])
    with time_machine.travel(NOW, tick=False):
        yield


def upload(name: str, content: bytes | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, (SAMPLES / name).read_bytes() if content is None else content, content_type="text/csv")


def november(**replace: bytes) -> dict:
    return {
        "action": "preview",
        "practices_file": upload("epraccur_2026_11.csv", replace.get("practices")),
        "pcn_file": upload("epcncorepartnerdetails_2026_11.csv", replace.get("pcns")),
    }


@pytest.fixture
def superuser(client):
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    return admin


def test_a_system_admin_previews_the_ods_files_then_loads_exactly_those(client, superuser, settings):
    listed = client.get(reverse("admin:teams_practice_changelist"))
    assert IMPORT in listed.text

    page = client.get(IMPORT)
    assert page.status_code == 200 and "15E" in page.text

    preview = client.post(IMPORT, november())
    assert preview.status_code == 200
    assert "4 new, 0 changed, 0 closed, 0 moved, 0 unchanged" in preview.text
    assert "M85001 ALUM ROCK MEDICAL CENTRE, YARDLEY PCN (U10001)" in preview.text
    assert not Practice.objects.exists()  # a preview writes nothing

    loaded = client.post(IMPORT, {"action": "load", "token": preview.context["token"]})
    assert loaded.status_code == 302 and loaded["Location"] == reverse("admin:teams_practice_changelist")
    assert Practice.objects.count() == 4 and PCN.objects.filter(neighbourhood__isnull=True).count() == 2
    assert list(settings.INT_IMPORT_DIR.iterdir()) == []  # the previewed files are not kept
    shown = client.get(loaded["Location"])
    assert "Loaded from the ODS: 4 new" in shown.text
    assert "2 new PCN(s) to assign to a neighbourhood: U10001 YARDLEY PCN, U10002 HODGE HILL PCN" in shown.text

    # Loading again (a second press, or another tab) finds nothing to load rather than loading twice.
    again = client.post(IMPORT, {"action": "load", "token": preview.context["token"]})
    assert again.status_code == 200 and "Nothing to load: choose the files and preview them first." in again.text


def test_a_preview_never_loaded_is_cleared_a_day_later(client, superuser, settings):
    settings.INT_IMPORT_DIR.mkdir(parents=True)
    abandoned, recent = settings.INT_IMPORT_DIR / "ods-abandoned-practices.csv", settings.INT_IMPORT_DIR / "ods-recent-practices.csv"
    for stored, age_hours in ((abandoned, 25), (recent, 1)):
        stored.write_bytes(b"x")
        moment = time.time() - age_hours * 60 * 60
        os.utime(stored, (moment, moment))

    client.post(IMPORT, november())

    assert not abandoned.exists() and recent.exists()


def test_another_persons_preview_cannot_be_loaded(client, superuser):
    preview = client.post(IMPORT, november())
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = client.post(IMPORT, {"action": "load", "token": preview.context["token"]})

    assert "Nothing to load" in response.text and not Practice.objects.exists()


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        ({"practices": b""}, "The submitted file is empty."),
        ({"practices": b"\r\n \r\n"}, "practices file: is empty"),
        ({"practices": "M85001,ALUM ROCK".encode("utf-16")}, "practices file line 1: is not UTF-8 text"),
        ({"practices": b'"M85001","ALUM ROCK","Y60"\r\n'}, "practices file line 1: has 3 columns; the ODS practices file (epraccur) has 27"),
        ({"pcns": b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xb5U0#\xf4"}, "PCN file line 1: is not UTF-8 text"),
    ],
)
def test_a_bad_file_gets_a_message_on_the_page_and_nothing_is_loaded(client, superuser, settings, replace, message):
    response = client.post(IMPORT, november(**replace))

    assert response.status_code == 200
    assert message in response.text
    assert "Load these changes" not in response.text
    assert not Practice.objects.exists() and not settings.INT_IMPORT_DIR.exists()


def test_a_preview_needs_both_files(client, superuser):
    response = client.post(IMPORT, {"action": "preview", "practices_file": upload("epraccur_2026_11.csv")})
    assert response.status_code == 200 and "This field is required." in response.text


def test_list_sizes_from_the_admin_page(client, superuser):
    client.post(IMPORT, {"action": "load", "token": client.post(IMPORT, november()).context["token"]})

    checked = client.post(IMPORT, {"action": "list_sizes", "dry_run": "on", "list_sizes_file": upload("gp-reg-pat-prac-all_2026_11.csv")})
    assert "Would load: 4 practices updated, 0 unchanged, 2 practices in the file that are not ours skipped" in checked.text
    assert not Practice.objects.filter(list_size__isnull=False).exists()

    loaded = client.post(IMPORT, {"action": "list_sizes", "list_sizes_file": upload("gp-reg-pat-prac-all_2026_11.csv")})
    assert "Loaded: 4 practices updated" in loaded.text
    assert Practice.objects.get(ods_code="M85001").list_size == 11234

    bad = client.post(IMPORT, {"action": "list_sizes", "list_sizes_file": upload("sizes.csv", b"\xff\xfe\x00")})
    assert bad.status_code == 200 and "list-size file line 1: is not UTF-8 text" in bad.text


def test_a_staff_admin_with_the_practice_permissions_may_import(client, own_team):
    client.force_login(staff_admin_of(own_team))
    assert client.get(IMPORT).status_code == 200
    assert client.post(IMPORT, november()).status_code == 200


def test_a_staff_member_without_the_practice_permissions_may_not(client, own_team):
    staff = member(own_team, Role.COORDINATOR)
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    staff.user_permissions.set(Permission.objects.filter(codename="view_practice"))
    client.force_login(staff)

    assert client.get(IMPORT).status_code == 403
    assert client.post(IMPORT, november()).status_code == 403
    assert IMPORT not in client.get(reverse("admin:teams_practice_changelist")).text
    assert not Practice.objects.filter(ods_code="M85001").exists()


def test_a_team_member_who_is_not_staff_is_sent_to_the_admin_login(client, coordinator):
    client.force_login(coordinator)

    for response in (client.get(IMPORT), client.post(IMPORT, november())):
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert not Practice.objects.filter(ods_code="M85001").exists()


def test_other_methods_are_refused(client, superuser):
    assert client.put(IMPORT).status_code == 405
