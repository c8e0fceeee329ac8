"""A system admin loads the area's GP practices and PCNs from the ODS files, month after month.

The sample files under tests/teams/ods/ are in the published layouts: epraccur (no header, 27
columns), the PCN core-partner file (11 columns; December's with the spreadsheet's header row) and
"Patients registered at a GP practice". November's has four of Birmingham's (15E) GP practices
open, one closed, a walk-in centre and an out-of-hours service (not GP practices) and two
practices elsewhere in England; in December one is renamed and moves address, one moves PCN, one
closes and one opens in a new PCN.
"""

import datetime as dt
import zoneinfo
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from django.core.management import CommandError, call_command

from int_app.teams.models import PCN, PCNMembership, Place, Practice
from int_app.teams.ods import ImportRejected, import_list_sizes, import_ods

from ..factories import PCNFactory, PracticeFactory, ResidentFactory

SAMPLES = Path(__file__).parent / "ods"
NOVEMBER = (SAMPLES / "epraccur_2026_11.csv", SAMPLES / "epcncorepartnerdetails_2026_11.csv")
DECEMBER = (SAMPLES / "epraccur_2026_12.csv", SAMPLES / "epcncorepartnerdetails_2026_12.csv")
LIST_SIZES = SAMPLES / "gp-reg-pat-prac-all_2026_11.csv"
# Early in December 2026, after both files' dates: nothing here depends on the day the suite runs.
NOW = dt.datetime(2026, 12, 7, 10, 0, tzinfo=zoneinfo.ZoneInfo("Europe/London"))

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def birmingham() -> Place:
    return Place.objects.create(name="Birmingham", ods_sub_icb_codes=["15E"])


def load(files: tuple[Path, Path], **options):
    return import_ods(files[0].read_bytes(), files[1].read_bytes(), **options)


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines()


def with_line(path: Path, number: int, line: str) -> bytes:
    lines = lines_of(path)
    lines[number - 1] = line
    return ("\r\n".join(lines) + "\r\n").encode()


def test_the_first_load_brings_the_areas_open_gp_practices_and_their_pcns(birmingham):
    report = load(NOVEMBER)

    assert set(Practice.objects.values_list("ods_code", flat=True)) == {"M85001", "M85002", "M85003", "M85004"}
    alum_rock = Practice.objects.get(ods_code="M85001")
    assert alum_rock.name == "ALUM ROCK MEDICAL CENTRE"
    assert alum_rock.address == "27 ALUM ROCK ROAD, BIRMINGHAM, WEST MIDLANDS"
    assert alum_rock.postcode == "B8 1JB"
    assert alum_rock.opened_on == dt.date(1974, 4, 1) and alum_rock.closed_on is None
    assert alum_rock.status == Practice.Status.ACTIVE
    assert alum_rock.pcn.ods_code == "U10001" and alum_rock.pcn.name == "YARDLEY PCN"
    # Which neighbourhood a PCN serves is ours to say: new PCNs wait, unassigned, in the admin.
    assert set(PCN.objects.values_list("ods_code", "neighbourhood")) == {("U10001", None), ("U10002", None)}
    assert list(alum_rock.pcn_memberships.values_list("pcn__ods_code", "started_on", "ended_on")) == [
        ("U10001", dt.date(2019, 7, 1), None)
    ]
    assert report.counts["new"] == 4 and report.counts["new_pcns"] == 2
    # The walk-in centre, the out-of-hours service and the practices in other areas are not ours;
    # a practice already closed before we knew it is not loaded.
    assert not Practice.objects.filter(ods_code__in=["Y02345", "Y03456", "A81001", "B82005", "M85005"]).exists()
    assert report.not_loaded == ["M85005 SHARD END HEALTH CENTRE: closed on 30 Sep 2026"]


def test_the_next_months_files_rename_close_move_and_add_practices_keeping_history(birmingham):
    load(NOVEMBER)

    report = load(DECEMBER)

    assert report.counts == {
        "new": 1, "changed": 1, "closed": 1, "moved": 1, "unchanged": 1,
        "not_loaded": 1, "not_in_file": 0, "new_pcns": 1, "renamed_pcns": 0,
    }
    assert report.changed == ["M85001 ALUM ROCK MEDICAL PRACTICE: name, address"]
    renamed = Practice.objects.get(ods_code="M85001")
    assert renamed.name == "ALUM ROCK MEDICAL PRACTICE" and renamed.address.startswith("29 ALUM ROCK ROAD")

    closed = Practice.objects.get(ods_code="M85004")
    assert closed.status == Practice.Status.CLOSED and closed.closed_on == dt.date(2026, 11, 30)
    assert closed.pcn.ods_code == "U10002"  # its last PCN stays on it

    moved = Practice.objects.get(ods_code="M85002")
    assert moved.pcn.ods_code == "U10002"
    assert list(moved.pcn_memberships.values_list("pcn__ods_code", "started_on", "ended_on")) == [
        ("U10001", dt.date(2019, 7, 1), dt.date(2026, 11, 30)),
        ("U10002", dt.date(2026, 12, 1), None),
    ]
    assert report.moved == [
        "M85002 YARDLEY GREEN SURGERY: from YARDLEY PCN (U10001) to HODGE HILL PCN (U10002) on 01 Dec 2026"
    ]

    new = Practice.objects.get(ods_code="M85006")
    assert new.pcn.ods_code == "U10003" and new.pcn.neighbourhood is None
    assert report.new_pcns == ["U10003 SHARD END PCN"]


def test_loading_the_same_files_again_changes_nothing(birmingham):
    load(NOVEMBER)
    load(DECEMBER)
    before = list(Practice.objects.order_by("pk").values()), list(PCNMembership.objects.order_by("pk").values())

    again = load(DECEMBER)

    assert again.counts["unchanged"] == 5
    assert [again.counts[kind] for kind in ("new", "changed", "closed", "moved", "new_pcns")] == [0, 0, 0, 0, 0]
    assert (list(Practice.objects.order_by("pk").values()), list(PCNMembership.objects.order_by("pk").values())) == before


def test_a_dry_run_says_what_would_change_and_writes_nothing(birmingham):
    load(NOVEMBER)
    before = list(Practice.objects.order_by("pk").values())

    out = StringIO()
    call_command("import_ods", *map(str, DECEMBER), "--dry-run", stdout=out)

    assert "Dry run, nothing written" in out.getvalue()
    assert "1 new, 1 changed, 1 closed, 1 moved, 1 unchanged" in out.getvalue()
    assert "M85002 YARDLEY GREEN SURGERY: from YARDLEY PCN (U10001) to HODGE HILL PCN (U10002)" in out.getvalue()
    assert list(Practice.objects.order_by("pk").values()) == before
    assert not PCN.objects.filter(ods_code="U10003").exists()


def test_a_closing_practice_with_residents_is_marked_closed_and_keeps_them(birmingham, own_team):
    load(NOVEMBER)
    # The admin puts Hodge Hill PCN in the team's neighbourhood; a resident is registered at Washwood Heath.
    PCN.objects.filter(ods_code="U10002").update(neighbourhood=own_team.neighbourhood)
    washwood = Practice.objects.get(ods_code="M85004")
    resident = ResidentFactory(team=own_team, practice=washwood)

    load(DECEMBER)

    washwood.refresh_from_db()
    resident.refresh_from_db()
    assert washwood.status == Practice.Status.CLOSED
    assert resident.practice == washwood


def test_a_practice_typed_in_by_hand_is_matched_by_its_code_and_moved_with_its_old_pcn_kept(birmingham, own_team):
    typed = PracticeFactory(ods_code="M85003", name="Hodge Hill", pcn=PCNFactory(neighbourhood=own_team.neighbourhood, ods_code="U55555"))

    report = load(NOVEMBER)

    typed.refresh_from_db()
    assert typed.name == "HODGE HILL FAMILY PRACTICE" and typed.pcn.ods_code == "U10002"
    assert list(typed.pcn_memberships.values_list("pcn__ods_code", "started_on", "ended_on")) == [
        ("U55555", None, dt.date(2020, 6, 30)),
        ("U10002", dt.date(2020, 7, 1), None),
    ]
    assert "M85003 HODGE HILL FAMILY PRACTICE: name, address, postcode, opened on" in report.changed


def test_practices_we_hold_that_the_file_lacks_are_left_as_they_are(birmingham, own_team):
    report = load(NOVEMBER)

    ours = [f"{p.ods_code} {p.name}" for p in own_team.practices.order_by("ods_code")]
    assert report.not_in_file == ours
    assert own_team.practices.count() == 2


def test_the_area_comes_from_the_command_line_or_the_place():
    with pytest.raises(ImportRejected) as rejected:
        load(NOVEMBER)
    assert rejected.value.problems == ["area: no sub-ICB location codes: set them on the place in the admin, or give --sub-icb"]

    load(NOVEMBER, sub_icb_codes=["16c"])
    assert list(Practice.objects.values_list("ods_code", flat=True)) == ["A81001"]


@pytest.mark.parametrize(
    ("which", "number", "line", "problem"),
    [
        (0, 3, '"X1","BAD PRACTICE","Y60","QHL","","","","","","B1 1AA","19740401","","A","B","15E","","","","","","","0","","15E","","4",""',
         "practices file line 3: practice code 'X1' is not an ODS practice code (a letter and five digits)"),
        (0, 2, '"M85002","YARDLEY GREEN SURGERY","Y60"',
         "practices file line 2: has 3 columns; the ODS practices file (epraccur) has 27"),
        (0, 4, '"M85004","WASHWOOD HEATH SURGERY","Y60","QHL","","","","","","B8 2HE","1974-13-40","","A","B","15E","","","","","","","0","","15E","","4",""',
         "practices file line 4: open date '1974-13-40' is not a date (YYYYMMDD)"),
        (0, 4, '"M85004","WASHWOOD HEATH SURGERY","Y60","QHL","","","","","","B8 2HE","19740401","","X","B","15E","","","","","","","0","","15E","","4",""',
         "practices file line 4: status 'X' is not an ODS status (A, C, D or P)"),
        (0, 4, '"M85001","WASHWOOD HEATH SURGERY","Y60","QHL","","","","","","B8 2HE","19740401","","A","B","15E","","","","","","","0","","15E","","4",""',
         "practices file line 4: practice M85001 is also on line 1"),
        (1, 2, '"M85002","YARDLEY GREEN SURGERY","15E","X","U1234","YARDLEY PCN","15E","X","20190701","","TRUE"',
         "PCN file line 2: PCN code 'U1234' is not an ODS PCN code (U and five digits)"),
        (1, 2, '"M85009","NOBODY KNOWS","15E","X","U10001","YARDLEY PCN","15E","X","20190701","","TRUE"',
         "PCN file line 2: practice 'M85009' is not in the practices file"),
        (1, 3, '"M85003","HODGE HILL FAMILY PRACTICE","15E","X","U10002","HODGE HILL PCN","15E","X","20200701","20190101","TRUE"',
         "PCN file line 3: the practice leaves the PCN before it joins"),
        (1, 3, '"M85003","HODGE HILL FAMILY PRACTICE","15E","X","U10002","HODGE HILL PCN","15E","X","20200701","TRUE"',
         "PCN file line 3: has 10 columns; the ODS PCN core-partner file has 11"),
        (1, 1, '"M85001,"ALUM ROCK"',
         "PCN file line 1: is not a CSV line (',' expected after '\"')"),
    ],
)
def test_a_malformed_line_is_reported_by_its_number_and_nothing_is_loaded(birmingham, which, number, line, problem):
    files = [NOVEMBER[0].read_bytes(), NOVEMBER[1].read_bytes()]
    files[which] = with_line(NOVEMBER[which], number, line)

    with pytest.raises(ImportRejected) as rejected:
        import_ods(*files)

    assert rejected.value.problems == [problem]
    assert not Practice.objects.exists() and not PCN.objects.exists()


def test_another_areas_practice_missing_from_the_practices_file_is_not_ours_to_judge(birmingham):
    # The two files come out days apart: a practice opening in York may be in one and not the other.
    pcns = with_line(NOVEMBER[1], 7, '"B82999","NEW YORK PRACTICE","03Q","X","U99902","YORK MEDICAL GROUP PCN","03Q","X","20261101","","TRUE"')

    import_ods(NOVEMBER[0].read_bytes(), pcns)

    assert Practice.objects.count() == 4


def test_a_malformed_line_in_a_later_month_leaves_everything_as_it_was(birmingham):
    load(NOVEMBER)
    before = list(Practice.objects.order_by("pk").values()), list(PCN.objects.order_by("pk").values())
    pcns = with_line(DECEMBER[1], 8, '"M85006","KITTS GREEN SURGERY","15E","X","U10003","","15E","X","20261101","","TRUE"')

    with pytest.raises(ImportRejected) as rejected:
        import_ods(DECEMBER[0].read_bytes(), pcns)

    assert rejected.value.problems == ["PCN file line 8: the PCN's name is empty or longer than 120 characters"]
    assert (list(Practice.objects.order_by("pk").values()), list(PCN.objects.order_by("pk").values())) == before


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "practices file: is empty"),
        ("\r\n".join(lines_of(NOVEMBER[0])).encode("utf-16"), "practices file line 1: is not UTF-8 text; save the file as CSV (comma delimited, UTF-8)"),
        (b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xb5U0#\xf4", "practices file line 1: is not UTF-8 text; save the file as CSV (comma delimited, UTF-8)"),
        (b'"M85001","ALUM ROCK\x00"\n', "practices file line 1: contains a NUL character: it is not a text file"),
    ],
)
def test_a_file_that_is_not_an_ods_file_gets_a_message(birmingham, content, problem):
    with pytest.raises(ImportRejected) as rejected:
        import_ods(content, NOVEMBER[1].read_bytes())
    assert rejected.value.problems[0] == problem
    assert not Practice.objects.exists()


def test_the_command_reports_problems_by_line_and_fails(birmingham, tmp_path):
    broken = tmp_path / "epraccur.csv"
    broken.write_bytes(with_line(NOVEMBER[0], 3, '"X1","BAD"'))
    err = StringIO()

    with pytest.raises(CommandError, match="Nothing was loaded"):
        call_command("import_ods", str(broken), str(NOVEMBER[1]), stderr=err)

    assert "practices file line 3: has 2 columns" in err.getvalue()
    assert not Practice.objects.exists()


def test_many_bad_lines_are_summed_up_after_the_first_fifty(birmingham):
    lines = b"".join(b'"M8500%d","BAD"\r\n' % (n % 10) for n in range(80))
    with pytest.raises(ImportRejected) as rejected:
        import_ods(lines, NOVEMBER[1].read_bytes())
    assert len(rejected.value.problems) == 51 and rejected.value.problems[-1] == "… and 30 more problem(s)."


# --- List sizes --------------------------------------------------------------------------------


def test_list_sizes_fill_our_practices_and_skip_the_others(birmingham):
    load(NOVEMBER)

    report = import_list_sizes(LIST_SIZES.read_bytes())

    assert dict(Practice.objects.values_list("ods_code", "list_size")) == {
        "M85001": 11234, "M85002": 8450, "M85003": 14020, "M85004": 6120,
    }
    assert set(Practice.objects.values_list("list_size_on", flat=True)) == {dt.date(2026, 11, 1)}
    assert (len(report.updated), report.unchanged, report.not_ours) == (4, 0, 2)
    again = import_list_sizes(LIST_SIZES.read_bytes())
    assert (len(again.updated), again.unchanged) == (0, 4)


def test_list_sizes_from_the_single_year_of_age_file_use_the_all_ages_row(birmingham):
    load(NOVEMBER)
    content = "\r\n".join([
        "PUBLICATION,EXTRACT_DATE,ORG_TYPE,ORG_CODE,POSTCODE,SEX,AGE,NUMBER_OF_PATIENTS",
        "GP_PRAC_PAT_LIST,2026-12-01,SUB_ICB_LOCATION,15E,,ALL,ALL,1250000",
        "GP_PRAC_PAT_LIST,2026-12-01,GP,M85001,B8 1JB,ALL,0,120",
        "GP_PRAC_PAT_LIST,2026-12-01,GP,M85001,B8 1JB,ALL,ALL,11301",
        "GP_PRAC_PAT_LIST,2026-12-01,GP,M85001,B8 1JB,MALE,ALL,5600",
    ]).encode()

    import_list_sizes(content)

    practice = Practice.objects.get(ods_code="M85001")
    assert (practice.list_size, practice.list_size_on) == (11301, dt.date(2026, 12, 1))


@pytest.mark.parametrize(
    ("replace", "problem"),
    [
        ((2, "GP_PRAC_PAT_LIST,01NOV2026,GP,15E,E38000258,M85001,B8 1JB,ALL,ALL,lots"),
         "list-size file line 2: number of patients 'lots' is not a whole number"),
        ((3, "GP_PRAC_PAT_LIST,31NOV2026,GP,15E,E38000258,M85002,B9 5PU,ALL,ALL,8450"),
         "list-size file line 3: extract date '31NOV2026' is not a date (like 01JUL2026)"),
        ((4, "GP_PRAC_PAT_LIST,01NOV2026,GP,15E,E38000258,M85003,B34 6HD,ALL"),
         "list-size file line 4: has 8 columns; the header has 10"),
        ((5, "GP_PRAC_PAT_LIST,01NOV2026,GP,15E,E38000258,M85001,B8 2HE,ALL,ALL,6120"),
         "list-size file line 5: practice M85001 is also on line 2"),
        ((1, "PRACTICE,PATIENTS"),
         "list-size file line 1: the header must name ORG_CODE, NUMBER_OF_PATIENTS and EXTRACT_DATE (NHS England's \"Patients registered at a GP practice\" CSV)"),
    ],
)
def test_a_bad_list_size_line_loads_nothing(birmingham, replace, problem):
    load(NOVEMBER)

    with pytest.raises(ImportRejected) as rejected:
        import_list_sizes(with_line(LIST_SIZES, *replace))

    assert rejected.value.problems == [problem]
    assert not Practice.objects.filter(list_size__isnull=False).exists()


def test_the_list_size_command_with_a_dry_run_writes_nothing(birmingham):
    load(NOVEMBER)
    out = StringIO()

    call_command("import_list_sizes", str(LIST_SIZES), "--dry-run", stdout=out)

    assert "Would load: 4 practices updated, 0 unchanged, 2 practices in the file that are not ours skipped" in out.getvalue()
    assert not Practice.objects.filter(list_size__isnull=False).exists()
