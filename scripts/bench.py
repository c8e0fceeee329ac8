"""Benchmarks, run by `make bench`: one line per figure, so that runs can be compared.

    bench <name> rows=<n> <measure>=<value> ...

It works in a database of its own (int_bench, or <database>_bench, made with Django's test-database tools and dropped
at the end), never in the development data. Each feature adds its sections as functions taking
the shared Bench and appends them to BENCHES.
"""

from __future__ import annotations

import datetime
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "int_app.settings")
# A line per request on stdout would be timed too and bury the figures.
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

# int_bench beside the default database `int`; beside another, its own (two checkouts benching at
# once on one server would otherwise drop each other's).
BENCH_DATABASE = f"{settings.DATABASES['default']['NAME']}_bench"


@dataclass
class Bench:
    """What the sections share: the database is theirs, and they may leave data for each other."""

    shared: dict[str, object] = field(default_factory=dict)
    # ONLY=caseload_page,dashboard measures just those figures (the names of the `bench` lines).
    only: frozenset[str] = frozenset(name.strip() for name in os.environ.get("ONLY", "").split(",") if name.strip())

    def wants(self, *names: str) -> bool:
        return not self.only or bool(self.only & set(names))

    def report(self, name: str, /, **figures: object) -> None:
        print(f"bench {name} " + " ".join(f"{key}={value}" for key, value in figures.items()), flush=True)


def page_timing(client: Client, url: str, repeats: int = 30, **options) -> tuple[float, int, object]:
    """Median milliseconds and queries of a page, after five warm-up requests. With PROFILE=1,
    also prints where the time goes (cProfile, by cumulative time; PROFILE=tottime: by own time) on stderr."""
    for _ in range(5):
        assert client.get(url, **options).status_code == 200
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get(url, **options)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as queries:
        client.get(url, **options)
    query_count = len(queries)  # before the next request resets the connection's query log
    if os.environ.get("PROFILE"):
        for query in queries.captured_queries:
            print(f"{query['time']} s  {query['sql'][:4000]}", file=sys.stderr)
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(lambda: [client.get(url, **options) for _ in range(repeats)])
        order = "tottime" if os.environ["PROFILE"] == "tottime" else "cumulative"
        pstats.Stats(profiler, stream=sys.stderr).sort_stats(order).print_stats(45)
    return statistics.median(timings), query_count, response


# --- caseload --------------------------------------------------------------------------------

IMPORT_RESIDENTS = 20_000
IMPORT_ROWS = 850_000
ACTIVE_RESIDENTS = 1_000


def caseload_team(bench: Bench):
    """One INT holding the city-scale caseload: 20,000 residents, 1,000 of them active."""
    if "caseload_team" in bench.shared:
        return bench.shared["caseload_team"]
    from caseload.models import Resident, ResidentEvent
    from caseload.nhs_number import nhs_number_check_digit
    from int_app.teams.roles import Role
    from tests.factories import make_team

    team = make_team("Bench")
    memberships = {m.role: m.user for m in team.memberships.select_related("user")}
    key_workers = [memberships[role] for role in (Role.OCCUPATIONAL_THERAPIST, Role.SOCIAL_WORKER, Role.COMMUNITY_TRUST, Role.MENTAL_HEALTH_TRUST)]
    practices = list(team.practices)
    rng = random.Random(20_000)
    today = timezone.localdate()
    residents, stem = [], 600_000_000
    for index in range(IMPORT_RESIDENTS):
        while nhs_number_check_digit(f"{stem:09d}") is None:
            stem += 1
        number = f"{stem:09d}{nhs_number_check_digit(f'{stem:09d}')}"
        stem += 1
        referred = today - datetime.timedelta(days=rng.randint(60, 700))
        is_active = index < ACTIVE_RESIDENTS
        start = referred + datetime.timedelta(days=14)
        residents.append(
            Resident(
                team=team, practice=practices[index % len(practices)], nhs_number=number,
                given_name=rng.choice(["Margaret", "Joseph", "Olive", "Winston", "Parveen", "Doreen"]),
                family_name=f"Resident{index:05d}", date_of_birth=datetime.date(1940, 1, 1) + datetime.timedelta(days=index % 9000),
                status=Resident.Status.ACTIVE if is_active else Resident.Status.CLOSED,
                referral_date=referred, referral_source="gp", referral_reason="Bench", referrer="Bench",
                triaged_on=referred + datetime.timedelta(days=7), key_worker=key_workers[index % 4],
                intervention_start=start,
                consent_date=start if index % 5 else None,
                stepped_down_on=None if is_active else start + datetime.timedelta(days=30),
                closed_on=None if is_active else start + datetime.timedelta(days=40),
            )
        )
    Resident.objects.bulk_create(residents, batch_size=5_000)
    events = [
        ResidentEvent(
            resident=resident, kind=kind, by=memberships[Role.COORDINATOR],
            occurred_at=timezone.make_aware(datetime.datetime.combine(day, datetime.time(12))),
        )
        for resident in residents[:ACTIVE_RESIDENTS]
        for kind, day in (("referred", resident.referral_date), ("accepted", resident.triaged_on), ("intervention_started", resident.intervention_start))
    ]
    ResidentEvent.objects.bulk_create(events, batch_size=5_000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # as autovacuum would have by the time anyone looks
    bench.shared["caseload_team"] = (team, memberships[Role.COORDINATOR], [r.nhs_number for r in residents])
    return bench.shared["caseload_team"]


def service_use_csv(path: Path, nhs_numbers: list[str], rows: int, id_prefix: str = "BENCH") -> None:
    """Write an extract of `rows` contacts to `path`, a line at a time."""
    from caseload.demo import SOURCES

    rng = random.Random(850_000)
    kinds = list(SOURCES)
    today = timezone.localdate()
    with path.open("w") as extract:
        extract.write("nhs_number,date,kind,source,source_id\n")
        for n in range(rows):
            kind = kinds[rng.randrange(len(kinds))]
            day = today - datetime.timedelta(days=rng.randint(1, 730))
            extract.write(f"{nhs_numbers[n % len(nhs_numbers)]},{day.isoformat()},{kind},{SOURCES[kind]},{id_prefix}-{n:07d}\n")


def backend_cpu_seconds(cursor) -> float | None:
    """CPU seconds used so far by this connection's PostgreSQL process, when the server runs on this
    machine (Linux): unlike wall time, hardly moved by other work on a shared machine."""
    cursor.execute("SELECT pg_backend_pid()")
    try:
        stat = Path(f"/proc/{cursor.fetchone()[0]}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


def plain_copy_seconds(path: Path, columns: int = 5, cpu: dict | None = None) -> float:
    """The floor an import is measured against: COPY of the same file into a table with no index,
    no check and no constraint (one text column for each of the file's `columns`). With `cpu`, its
    "s" is set to the database's CPU seconds for the COPY (None when they cannot be read)."""
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE bench_plain_copy ({', '.join(f'c{n} text' for n in range(columns))})")
        cpu_before = backend_cpu_seconds(cursor)
        started = time.perf_counter()
        with path.open() as extract:
            cursor.copy_expert("COPY bench_plain_copy FROM STDIN WITH (FORMAT csv, HEADER)", extract)
        seconds = time.perf_counter() - started
        if cpu is not None:
            cpu_after = backend_cpu_seconds(cursor)
            cpu["s"] = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
        cursor.execute("DROP TABLE bench_plain_copy")
    return seconds


# Run in a fresh process, so that its peak memory is the import's and nothing measured before it.
IMPORT_CHILD = """
import json, os, resource, sys, time
sys.path.insert(0, sys.argv[1])
import django
django.setup()
from caseload.models import ImportJob
from caseload.services import import_job_create
from int_app.teams.models import Team, User
from kpis.tasks import recompute_kpis
recompute_kpis.delay = lambda **options: None  # the KPI recompute after a load is benched on its own
team, coordinator = Team.objects.get(pk=int(sys.argv[3])), User.objects.get(pk=int(sys.argv[4]))
def run_import():
    with open(sys.argv[2], "rb") as extract:
        return import_job_create(content=iter(lambda: extract.read(1 << 20), b""), file_name="bench.csv", teams=[team], by=coordinator, background=False)
from django.db import connection
def cpu_seconds():
    # This process's and its database connection's CPU time (None for the latter when the server
    # is not on this machine): wall time on a shared machine measures the other work too.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        try:
            stat = open(f"/proc/{cursor.fetchone()[0]}/stat").read().rsplit(")", 1)[1].split()
            database = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            database = None
    own = resource.getrusage(resource.RUSAGE_SELF)
    return database, own.ru_utime + own.ru_stime
database_before, python_before = cpu_seconds()
started = time.perf_counter()
if os.environ.get("PROFILE"):
    import cProfile, pstats
    profiler = cProfile.Profile()
    job = profiler.runcall(run_import)
    pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(30)
else:
    job = run_import()
seconds = time.perf_counter() - started
database_after, python_after = cpu_seconds()
print(json.dumps({"s": seconds, "status": job.status, "loaded": job.rows_loaded, "again": job.rows_already_loaded,
                  "db_cpu_s": None if database_before is None or database_after is None else database_after - database_before,
                  "py_cpu_s": python_after - python_before,
                  "errors": job.errors[:3], "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def import_in_a_fresh_process(path: Path, team, coordinator, child: str = IMPORT_CHILD) -> dict:
    import json
    import subprocess
    from urllib.parse import quote

    db = connection.settings_dict
    credentials = quote(db["USER"], safe="") + (f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else "")
    host = f"@/{quote(db['NAME'])}?host={quote(db['HOST'])}" if db["HOST"].startswith("/") else f"@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{quote(db['NAME'])}"
    environment = {**os.environ, "DATABASE_URL": f"postgresql://{credentials}{host}", "CELERY_TASK_ALWAYS_EAGER": "true"}
    finished = subprocess.run(
        [sys.executable, "-c", child, str(ROOT), str(path), str(team.pk), str(coordinator.pk if coordinator else 0)],
        env=environment, capture_output=True, text=True, check=True,
    )
    if os.environ.get("PROFILE"):
        print(finished.stderr, file=sys.stderr)  # where the import's time goes
    return json.loads(finished.stdout.strip().splitlines()[-1])


def bench_service_use_import(bench: Bench) -> None:
    """The import of a small and a city-sized extract, each in a fresh process: its time against
    a plain COPY of the same file, and its peak memory, which must not grow with the file.
    IMPORT_SIZES=100000,1000000 chooses the sizes; the last is the one left loaded."""
    if not bench.wants("import", "import_again", "import_floor"):
        return
    import tempfile

    from caseload.models import ServiceUseEvent

    team, coordinator, nhs_numbers = caseload_team(bench)
    sizes = [int(size) for size in os.environ.get("IMPORT_SIZES", f"100000,{IMPORT_ROWS}").split(",")]
    with tempfile.TemporaryDirectory() as folder:
        for number, rows in enumerate(sizes):
            last = number == len(sizes) - 1
            path = Path(folder) / f"extract-{rows}.csv"
            service_use_csv(path, nhs_numbers, rows, id_prefix="BENCH" if last else f"SIZE{number}")
            copy_cpu: dict = {}
            copy_s = plain_copy_seconds(path, cpu=copy_cpu)
            run = import_in_a_fresh_process(path, team, coordinator)
            assert run["status"] == "done" and run["loaded"] == rows, run
            # The CPU ratio (the import's database and Python CPU time against the COPY's database
            # CPU time) barely moves with other work on the machine; the wall-time ratio does.
            cpu_figures = (
                {"cpu_s": f"{run['db_cpu_s'] + run['py_cpu_s']:.2f}", "copy_cpu_s": f"{copy_cpu['s']:.2f}",
                 "cpu_ratio": f"{(run['db_cpu_s'] + run['py_cpu_s']) / copy_cpu['s']:.2f}"}
                if run.get("db_cpu_s") is not None and copy_cpu.get("s") else {}
            )
            bench.report(
                "import", rows=rows, s=f"{run['s']:.1f}", copy_s=f"{copy_s:.1f}", ratio=f"{run['s'] / copy_s:.2f}",
                peak_mb=f"{run['peak_mb']:.0f}", **cpu_figures,
            )
            if not last:
                # Only the last size stays loaded: the sections after this one expect the city's contacts.
                ServiceUseEvent.objects.filter(source_id__startswith=f"SIZE{number}-").delete()
                continue
            again = import_in_a_fresh_process(path, team, coordinator)
            assert again["loaded"] == 0 and ServiceUseEvent.objects.count() == rows, again
            bench.report("import_again", rows=rows, s=f"{again['s']:.1f}", added=again["loaded"], peak_mb=f"{again['peak_mb']:.0f}")
            floor_s = indexed_insert_seconds(id_prefix="BENCH")
            bench.report("import_floor", rows=rows, s=f"{floor_s:.1f}", copy_s=f"{copy_s:.1f}", ratio=f"{floor_s / copy_s:.2f}")


def indexed_insert_seconds(*, id_prefix: str) -> float:
    """What any import that keeps service use's indexes must at least do: insert the rows, already
    checked and typed, into an empty table with service use's columns, constraints and indexes
    (`bench import_floor`). Its ratio to the plain COPY is the least an import's ratio can be while
    the table keeps its indexes (docs/adr/0025)."""
    from caseload.models import ServiceUseEvent

    table = ServiceUseEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE bench_typed AS SELECT resident_id, date, kind, source, source_id FROM {table} WHERE source_id LIKE %s", [f"{id_prefix}-%"])
        cursor.execute(f"CREATE TABLE bench_indexed_floor (LIKE {table} INCLUDING ALL)")
        started = time.perf_counter()
        cursor.execute("INSERT INTO bench_indexed_floor (resident_id, date, kind, source, source_id) SELECT * FROM bench_typed")
        seconds = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_indexed_floor, bench_typed")
    return seconds


# --- the population extract ----------------------------------------------------------------------

# The default, a million rows (about 25 seconds with writing the file), is where the load's fixed
# costs no longer decide its ratio (README); POPULATION_ROWS=10000000 is a city's two years.
POPULATION_ROWS = int(os.environ.get("POPULATION_ROWS", "1000000"))
POPULATION_ROWS_A_PERSON = 12


def population_csv(path: Path, practices: list[str], rows: int) -> None:
    """An extract of `rows` rows, POPULATION_ROWS_A_PERSON a person over 24 months and every kind,
    written a line at a time."""
    from caseload.models import KIND_NUMBERS
    from caseload.models import add_months as months_after
    from caseload.nhs_number import nhs_number_check_digit

    kinds = list(KIND_NUMBERS)
    last = timezone.localdate().replace(day=1)
    months = [f"{months_after(last, -back):%Y-%m}" for back in range(24)]
    stem, nhs_number = 400_000_000, ""
    with path.open("w") as extract:
        extract.write("nhs_number,practice_ods,birth_year,sex,month,kind,contacts\n")
        for n in range(rows):
            person, nth = divmod(n, POPULATION_ROWS_A_PERSON)
            if nth == 0:
                while nhs_number_check_digit(f"{stem:09d}") is None:
                    stem += 1
                nhs_number = f"{stem:09d}{nhs_number_check_digit(f'{stem:09d}')}"
                stem += 1
                practice, born, sex = practices[person % len(practices)], 1930 + person % 90, "MFU"[person % 3]
            extract.write(f"{nhs_number},{practice},{born},{sex},{months[(nth + person) % 24]},{kinds[nth % 8]},{1 + n % 3}\n")


POPULATION_CHILD = """
import json, os, resource, sys, time
sys.path.insert(0, sys.argv[1])
import django
django.setup()
from caseload.population import population_extract_create
from int_app.teams.models import Team
from kpis.tasks import recompute_kpis
recompute_kpis.delay = lambda **options: None  # the KPI run after a load is benched on its own (kpi_matched)
team = Team.objects.get(pk=int(sys.argv[3]))
statements = []
def timed(execute, sql, params, many, context):
    begun = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        statements.append((time.perf_counter() - begun, " ".join(sql.split())[:160]))
from django.db import connection
started = time.perf_counter()
with open(sys.argv[2], "rb") as extract, connection.execute_wrapper(timed):
    loaded = population_extract_create(content=iter(lambda: extract.read(1 << 20), b""), file_name="bench.csv", team=team, by=None, background=False)
if os.environ.get("PROFILE"):  # where the load's time goes, statement by statement (COPY is not among them)
    for seconds, sql in sorted(statements, reverse=True)[:12]:
        print(f"{seconds:7.3f} s  {sql}", file=sys.stderr)
    print(f"{sum(seconds for seconds, _ in statements):7.3f} s  all statements but COPY", file=sys.stderr)
print(json.dumps({"s": time.perf_counter() - started, "status": loaded.status, "rows": loaded.rows_loaded, "errors": loaded.errors[:3],
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def bench_population_import(bench: Bench) -> None:
    """A population extract loaded in a fresh process, against a plain COPY of the same file into an
    unindexed table. PROFILE=1 prints the load's slowest statements."""
    if not bench.wants("population_import"):
        return
    import tempfile

    from tests.factories import make_team

    team = make_team("Population")
    practices = list(team.practices.values_list("ods_code", flat=True))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "population.csv"
        population_csv(path, practices, POPULATION_ROWS)
        copy_s = plain_copy_seconds(path, columns=7)
        run = import_in_a_fresh_process(path, team, None, child=POPULATION_CHILD)
        assert run["status"] == "done" and run["rows"] == POPULATION_ROWS, run
        bench.report(
            "population_import", rows=POPULATION_ROWS, s=f"{run['s']:.1f}", copy_s=f"{copy_s:.1f}",
            ratio=f"{run['s'] / copy_s:.2f}", peak_mb=f"{run['peak_mb']:.0f}",
        )


def bench_caseload_page(bench: Bench) -> None:
    if not bench.wants("caseload_page"):
        return
    team, coordinator, _numbers = caseload_team(bench)
    client = Client()
    client.force_login(coordinator)
    ms, queries, response = page_timing(client, f"/caseload/teams/{team.slug}/")
    assert f"{ACTIVE_RESIDENTS} residents with an open case" in response.text
    bench.report("caseload_page", rows=ACTIVE_RESIDENTS, ms=f"{ms:.1f}", queries=queries)


BENCHES: list[Callable[[Bench], None]] = [bench_service_use_import, bench_population_import, bench_caseload_page]


# --- meetings --------------------------------------------------------------------------------

AGENDA_ITEMS = 30


def fill_agenda(team, meeting, *, name: str, waiting: bool) -> None:
    """AGENDA_ITEMS residents on the meeting's agenda, each with an information pack: a last
    discussion with decisions, open actions and six months of service use; with `waiting`, as many
    new referrals beside them for the suggestions."""
    from caseload.models import ServiceUseEvent
    from tests.meetings.factories import active_resident, add_item, discussed, make_action, record_decision, referred_resident

    today = timezone.localdate()
    events = []
    for n in range(AGENDA_ITEMS):
        resident = active_resident(team, family_name=f"{name}{n:02d}", weeks_active=6 + n % 10)
        record_decision(discussed(resident, days_ago=7 + 7 * (n % 4)), clinical=n % 2 == 0)
        make_action(resident, due_in_days=n % 9 - 4)
        add_item(meeting, resident)
        if waiting:
            referred_resident(team, family_name=f"Waiting{n:02d}")
        events += [
            ServiceUseEvent(resident=resident, kind=kind, date=today - datetime.timedelta(days=(7 * k + n) % 180), source="bench", source_id=f"{name.upper()}-{n}-{k}")
            for k, kind in enumerate(list(ServiceUseEvent.Kind) * 3)
        ]
    ServiceUseEvent.objects.bulk_create(events)
    assert meeting.items.count() == AGENDA_ITEMS


def bench_agenda_page(bench: Bench) -> None:
    """The coordinator's agenda page with 30 residents, each with an information pack."""
    if not bench.wants("agenda_page"):
        return
    from int_app.teams.roles import Role
    from tests.factories import make_team
    from tests.meetings.factories import make_meeting

    team = make_team("AgendaBench")
    coordinator = team.memberships.get(role=Role.COORDINATOR).user
    meeting = make_meeting(team, days_ahead=3)
    fill_agenda(team, meeting, name="Agenda", waiting=True)
    client = Client()
    client.force_login(coordinator)
    ms, queries, _response = page_timing(client, f"/meetings/teams/{team.slug}/{meeting.pk}/agenda/")
    bench.report("agenda_page", items=AGENDA_ITEMS, ms=f"{ms:.1f}", queries=queries)


BENCHES.append(bench_agenda_page)


def bench_agenda_city(bench: Bench) -> None:
    """The same agenda page for the city-scale team: its suggestions read all 1,000 open cases and,
    once the import has run, their 850,000 service-use rows."""
    if not bench.wants("agenda_page_city"):
        return
    from caseload.models import Resident
    from tests.meetings.factories import add_item, make_meeting

    team, coordinator, _numbers = caseload_team(bench)
    meeting = make_meeting(team, days_ahead=3)
    for resident in Resident.objects.filter(team=team, status=Resident.Status.ACTIVE).order_by("pk")[:AGENDA_ITEMS]:
        add_item(meeting, resident)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # after the import, as autovacuum would have by the time anyone looks
    client = Client()
    client.force_login(coordinator)
    ms, queries, _response = page_timing(client, f"/meetings/teams/{team.slug}/{meeting.pk}/agenda/")
    bench.report("agenda_page_city", items=AGENDA_ITEMS, open_cases=ACTIVE_RESIDENTS, ms=f"{ms:.1f}", queries=queries)


BENCHES.append(bench_agenda_city)


# --- kpis ------------------------------------------------------------------------------------
# City-scale service use, in a database of its own (the shared one holds the other sections'
# residents, which would change the figures): 20,000 × scale residents in ten teams of three
# PCNs, with 1.7 million × scale contacts over two years, built in SQL (generate_series,
# deterministic with setseed). The database, <bench database>_kpis<scale> (int_bench_kpis<scale>
# beside the default database; checkouts sharing a server keep their own), is kept between runs because
# building scale 10 takes minutes; it is built again when missing. The scale comes from
# `--scale N` or the SCALE environment variable (`make bench SCALE=10`). Prints:
#
#   bench kpi_recompute scale=<n> app_s=<s> reference_s=<s> ratio=<app/reference> matched_s=<left out of app_s>
#   bench kpi_incremental scale=<n> s=<s>
#   bench dashboard scale=<n> ms=<ms>
#
# Each figure is the best (or, for the dashboard, the median) of repeats that take turns with
# the reference, so a busy machine slows both alike. No targets are asserted.

from contextlib import contextmanager  # noqa: E402

KPI_RESIDENTS_AT_1X = 20_000
KPI_CONTACTS_AT_1X = 1_700_000
KPI_CONTACTS_A_DAY_AT_1X = 2_300
KPI_TEAMS, KPI_PCNS_PER_TEAM, KPI_PRACTICES_PER_PCN, KPI_KEY_WORKERS_PER_TEAM = 10, 3, 4, 4
KPI_BENCH_LEAD_EMAIL = "lead@kpi.bench"
KPI_REPEATS = 5


def kpi_scale() -> int:
    if "--scale" in sys.argv:
        return int(sys.argv[sys.argv.index("--scale") + 1])
    return int(os.environ.get("SCALE") or 1)


@contextmanager
def kpi_database(scale: int):
    """Point the default connection at the KPI city's own database for the section, then back."""
    settings_dict = connection.settings_dict
    shared_name, shared_test_name = settings_dict["NAME"], settings_dict["TEST"].get("NAME")
    settings_dict["TEST"]["NAME"] = f"{BENCH_DATABASE}_kpis{scale}"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=True)
    try:
        yield
    finally:
        connection.close()
        settings_dict["NAME"] = settings.DATABASES[connection.alias]["NAME"] = shared_name
        settings_dict["TEST"]["NAME"] = shared_test_name


KPI_KIND_SHARES = (  # a share of all contacts, cumulative thresholds are worked out below
    ("primary_care_appointment", 0.45),
    ("ae_attendance", 0.08),
    ("emergency_admission", 0.03),
    ("ambulance_callout", 0.04),
    ("nhs_111_call", 0.06),
    ("social_care_contact", 0.14),
    ("community_health_contact", 0.14),
    ("mental_health_contact", 0.06),
)


def kpi_kind_case(variable: str) -> str:
    """A CASE picking a kind from a uniform random number by the shares above."""
    parts, total = [], 0.0
    for kind, share in KPI_KIND_SHARES[:-1]:
        total += share
        parts.append(f"WHEN {variable} < {total:.4f} THEN '{kind}'")
    return f"CASE {' '.join(parts)} ELSE '{KPI_KIND_SHARES[-1][0]}' END"


def kpi_city_is_built(cursor, scale: int) -> bool:
    cursor.execute("SELECT count(*) FROM caseload_resident")
    return cursor.fetchone()[0] == KPI_RESIDENTS_AT_1X * scale


def kpi_build_city(scale: int) -> None:
    """Ten teams of three PCNs, `20,000 × scale` residents and `1.7 M × scale` contacts over two
    years, in SQL. Three in four residents were supported; their contacts fall by about a third
    after the start, the comparator's by about a tenth (people are referred at their peak)."""
    import pgtrigger
    from django.db import connection

    residents, contacts = KPI_RESIDENTS_AT_1X * scale, KPI_CONTACTS_AT_1X * scale
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE kpis_kpirun, kpis_processvalue, kpis_outcomesums, kpis_residentwindow, kpis_residentusage, "
            "caseload_serviceuseevent, caseload_resident, teams_membership, teams_user, teams_practice, "
            "teams_pcn, teams_team, teams_neighbourhood, teams_place, teams_organisation CASCADE"
        )
        cursor.execute("SELECT setseed(0.2026)")
        cursor.execute("INSERT INTO teams_place (name, ods_sub_icb_codes) VALUES ('Bench City', '{}')")
        cursor.execute("INSERT INTO teams_organisation (name, kind) VALUES ('Bench Trust', 'community_trust')")
        cursor.execute(
            "INSERT INTO teams_neighbourhood (place_id, name) "
            "SELECT (SELECT id FROM teams_place), 'Neighbourhood ' || g FROM generate_series(1, %s) g",
            [KPI_TEAMS],
        )
        cursor.execute(
            "INSERT INTO teams_team (neighbourhood_id, name, slug) "
            "SELECT id, 'Team ' || id, 'bench-' || id FROM teams_neighbourhood"
        )
        cursor.execute(
            "INSERT INTO teams_pcn (neighbourhood_id, name, ods_code) "
            "SELECT nb.id, 'PCN ' || nb.id || '-' || g, 'U' || lpad((nb.id * 10 + g)::text, 5, '0') "
            "FROM teams_neighbourhood nb CROSS JOIN generate_series(1, %s) g",
            [KPI_PCNS_PER_TEAM],
        )
        cursor.execute(
            "INSERT INTO teams_practice (pcn_id, name, ods_code, status, shared_mailbox, address, postcode) "
            "SELECT p.id, 'Practice ' || p.id || '-' || g, 'B' || lpad((p.id * 10 + g)::text, 5, '0'), 'A', '', '', '' "
            "FROM teams_pcn p CROSS JOIN generate_series(1, %s) g",
            [KPI_PRACTICES_PER_PCN],
        )
        cursor.execute(
            "INSERT INTO teams_user (password, email, full_name, is_superuser, is_active, is_staff, date_joined) "
            "SELECT '!', 'kw' || t.id || '-' || g || '@kpi.bench', 'Key worker ' || g, false, true, false, now() "
            "FROM teams_team t CROSS JOIN generate_series(1, %s) g",
            [KPI_KEY_WORKERS_PER_TEAM],
        )
        cursor.execute(
            "INSERT INTO teams_membership (role, user_id, organisation_id, team_id) "
            "SELECT 'occupational_therapist', u.id, (SELECT id FROM teams_organisation), t.id "
            "FROM teams_user u JOIN teams_team t ON u.email LIKE 'kw' || t.id || '-%%'"
        )
        # The widest dashboard: a lead in every team sees every team, PCN and the place.
        cursor.execute(
            "INSERT INTO teams_user (password, email, full_name, is_superuser, is_active, is_staff, date_joined) "
            "VALUES ('!', %s, 'Bench PCN lead', false, true, false, now())",
            [KPI_BENCH_LEAD_EMAIL],
        )
        cursor.execute(
            "INSERT INTO teams_membership (role, user_id, organisation_id, team_id) "
            "SELECT 'pcn_lead', (SELECT id FROM teams_user WHERE email = %s), (SELECT id FROM teams_organisation), id "
            "FROM teams_team",
            [KPI_BENCH_LEAD_EMAIL],
        )
        # Residents: referred over the last two years; three in four started an intervention
        # within three weeks; a supported resident is active until six months after the start.
        # Without their history rows: pghistory's trigger, run for each row of one statement outside
        # a request, costs time in proportion to the rows already inserted (an aborted subtransaction
        # each), which at scale 10 takes hours instead of seconds.
        with pgtrigger.ignore("caseload.Resident:insert_insert"):
            cursor.execute(
                """
                WITH practices AS (
                    SELECT pr.id, t.id AS team_id, row_number() OVER (ORDER BY pr.id) - 1 AS position,
                           (SELECT min(m.user_id) FROM teams_membership m WHERE m.team_id = t.id
                            AND m.role = 'occupational_therapist') AS key_worker_id
                    FROM teams_practice pr JOIN teams_pcn p ON p.id = pr.pcn_id
                    JOIN teams_team t ON t.neighbourhood_id = p.neighbourhood_id
                ),
                drawn AS (
                    SELECT g, random() AS supported, current_date - 1 - floor(random() * 729)::int AS referral_date,
                           floor(random() * 22)::int AS wait, random() AS feedback
                    FROM generate_series(1, %s) g
                ),
                shaped AS (
                    SELECT d.*, CASE WHEN d.supported < 0.75 THEN least(d.referral_date + d.wait, current_date - 1) END AS start
                    FROM drawn d
                )
                INSERT INTO caseload_resident
                    (nhs_number, given_name, family_name, date_of_birth, status, referral_date, referral_source,
                     referral_reason, referrer, not_accepted_reason, not_accepted_detail, intervention_start,
                     consent_method, stepped_down_on, step_down_outcome, feedback_score, feedback_comment,
                     restriction_reason, created_at, updated_at, version, practice_id, team_id, key_worker_id)
                SELECT lpad((1000000000 + s.g)::text, 10, '0'), 'Bench', 'Resident ' || s.g,
                       date '1940-01-01' + (s.g %% 12000),
                       CASE WHEN s.start IS NULL THEN CASE WHEN s.supported < 0.95 THEN 'not_accepted' ELSE 'referred' END
                            WHEN s.start + 182 < current_date THEN 'stepped_down' ELSE 'active' END,
                       s.referral_date, 'gp', 'Bench', 'Bench GP',
                       CASE WHEN s.start IS NULL AND s.supported < 0.95 THEN 'does_not_meet_criteria' ELSE '' END, '',
                       s.start, '',
                       CASE WHEN s.start + 182 < current_date THEN s.start + 182 END,
                       CASE WHEN s.start + 182 < current_date THEN 'goals_met' ELSE '' END,
                       CASE WHEN s.start + 182 < current_date AND s.feedback < 0.7 THEN 1 + floor(s.feedback / 0.7 * 5)::int END,
                       '', '', now(), now(), 1, p.id, p.team_id, CASE WHEN s.start IS NOT NULL THEN p.key_worker_id END
                FROM shaped s JOIN practices p ON p.position = s.g %% (SELECT count(*) FROM teams_practice)
                """,
                [residents],  # positional: pgtrigger adds a positional parameter of its own
            )
        cursor.execute("ANALYZE caseload_resident")  # the planner sees the residents before joining contacts to them
        # Contacts: each around one resident's start (or referral), a year either side, with fewer
        # after the start. Dropping the indexes while loading, then building them, is faster.
        cursor.execute("DROP INDEX IF EXISTS service_use_resident_date, caseload_serviceuseevent_resident_id_3ee10dcb")
        cursor.execute("ALTER TABLE caseload_serviceuseevent DROP CONSTRAINT IF EXISTS service_use_unique_source_record")
        cursor.execute(
            f"""
            WITH people AS (
                SELECT id, row_number() OVER (ORDER BY id) AS position,
                       coalesce(intervention_start, referral_date) AS start, intervention_start IS NOT NULL AS supported
                FROM caseload_resident
            ),
            drawn AS (
                SELECT g, 1 + floor(random() * %(residents)s)::int AS position, random() AS side, random() AS day,
                       random() AS kind
                FROM generate_series(1, %(contacts)s) g
            ),
            dated AS (
                SELECT d.g, p.id AS resident_id, d.kind,
                       -- After the start: 41 %% of a supported resident's contacts, 47 %% of the comparator's.
                       CASE WHEN d.side < CASE WHEN p.supported THEN 0.41 ELSE 0.47 END
                            THEN p.start + floor(d.day * 365)::int
                            ELSE p.start - 1 - floor(d.day * 365)::int END AS date
                FROM drawn d JOIN people p ON p.position = d.position
            )
            INSERT INTO caseload_serviceuseevent (resident_id, date, kind, source, source_id)
            SELECT resident_id,
                   -- Nothing is known about the future: those contacts move back a year.
                   CASE WHEN date >= current_date THEN date - 365 ELSE date END,
                   {kpi_kind_case('kind')}, 'bench', g::text
            FROM dated
            """,
            {"residents": residents, "contacts": contacts},
        )
        cursor.execute(
            "CREATE INDEX service_use_resident_date ON caseload_serviceuseevent (resident_id, date) INCLUDE (kind)"
        )
        cursor.execute(
            "ALTER TABLE caseload_serviceuseevent ADD CONSTRAINT service_use_unique_source_record UNIQUE (source, source_id)"
        )
    kpi_vacuum_analyse()


def kpi_vacuum_analyse(*tables: str) -> None:
    """As autovacuum would have done by the time anyone looks: statistics, and the visibility map
    that lets the covering index answer without visiting the table. VACUUM cannot run inside a
    transaction, so on a connection of its own."""
    import psycopg2
    from django.db import connection

    dsn = connection.get_connection_params()
    raw = psycopg2.connect(**dsn)
    raw.autocommit = True
    with raw.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {', '.join(tables)}")
    raw.close()


def kpi_prune_runs() -> None:
    """What the nightly prune task and autovacuum do, so the bench's many runs do not pile up."""
    from kpis.compute import prune_old_runs

    prune_old_runs()
    kpi_vacuum_analyse("kpis_processvalue", "kpis_outcomesums", "kpis_kpirun", "kpis_residentwindow", "kpis_residentusage")


# --- the timings --------------------------------------------------------------------------------


def kpi_best_of(repeats: int, work) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return min(timings)


KPI_KINDS = [kind for kind, _share in KPI_KIND_SHARES]
KPI_REFERENCE_WINDOWS = """
    SELECT r.id, r.intervention_start IS NOT NULL AS supported,
           coalesce(r.intervention_start, r.referral_date) AS s
    FROM caseload_resident r
    WHERE coalesce(r.intervention_start, r.referral_date) + make_interval(months => %(months)s) <= current_date
"""
KPI_REFERENCE_JOIN = """
    FROM windows w
    JOIN caseload_serviceuseevent e
      ON e.resident_id = w.id
     AND e.date >= (w.s - make_interval(months => %(months)s))::date
     AND e.date < (w.s + make_interval(months => %(months)s))::date
"""
# The best single queries I found for the headline figures: per cohort and kind (and all kinds),
# the residents with a complete window and the sums their change and its interval need, straight
# from the residents and their contacts. The faster of the two is the reference.
KPI_REFERENCE_QUERIES = {
    "grouping sets": f"""
        WITH windows AS ({KPI_REFERENCE_WINDOWS}),
        per_resident AS (
            SELECT w.id, w.supported, e.kind,
                   count(*) FILTER (WHERE e.date < w.s) AS b, count(*) FILTER (WHERE e.date >= w.s) AS f
            {KPI_REFERENCE_JOIN}
            GROUP BY GROUPING SETS ((w.id, w.supported, e.kind), (w.id, w.supported))
        )
        SELECT supported, coalesce(kind, 'all'), count(*), sum(b), sum(f), sum(b * b), sum(f * f), sum(b * f)
        FROM per_resident
        GROUP BY supported, kind
    """,
    "one row per resident": f"""
        WITH windows AS ({KPI_REFERENCE_WINDOWS}),
        per_resident AS (
            SELECT w.supported,
                   {", ".join(f"count(*) FILTER (WHERE e.kind = '{kind}' AND e.date < w.s) AS b_{kind}, "
                              f"count(*) FILTER (WHERE e.kind = '{kind}' AND e.date >= w.s) AS f_{kind}" for kind in KPI_KINDS)},
                   count(*) FILTER (WHERE e.date < w.s) AS b_all, count(*) FILTER (WHERE e.date >= w.s) AS f_all
            {KPI_REFERENCE_JOIN}
            GROUP BY w.id, w.supported
        )
        SELECT supported, count(*),
               {", ".join(f"sum(b_{kind}), sum(f_{kind}), sum(b_{kind} * b_{kind}), sum(f_{kind} * f_{kind}), sum(b_{kind} * f_{kind})"
                          for kind in [*KPI_KINDS, "all"])}
        FROM per_resident
        GROUP BY supported
    """,
}


def kpi_time_recompute(scale: int) -> dict[str, str]:
    """(a) the full recompute through the Celery task (eager), against (b) the reference query,
    taking turns so that a busy machine slows both alike; the best of each. The matched
    comparison (none in this city: it has no population extract) is timed apart and left out of
    (a): it is `bench kpi_matched`."""
    from django.conf import settings
    from django.db import connection, transaction

    from kpis import compute
    from kpis.compute import RUN_SETTINGS
    from kpis.tasks import recompute_kpis

    matched = {"s": 0.0}
    write_matched = compute.write_matched

    def timed_matched(cursor, run):
        started = time.perf_counter()
        try:
            return write_matched(cursor, run)
        finally:
            matched["s"] = time.perf_counter() - started

    def app() -> None:
        compute.write_matched = timed_matched
        try:
            started = time.perf_counter()
            recompute_kpis.apply(kwargs={"full": True}).get()
            # The best-of below reads this run's time less its matched part.
            app.seconds = time.perf_counter() - started - matched["s"]
        finally:
            compute.write_matched = write_matched

    def reference(sql: str):
        def run() -> None:
            with transaction.atomic(), connection.cursor() as cursor:
                for setting in RUN_SETTINGS:  # the recompute's own session settings
                    cursor.execute(f"SET LOCAL {setting}")
                cursor.execute(sql, {"months": settings.KPI_WINDOW_MONTHS})
                cursor.fetchall()

        return run

    app()  # warm: caches, and the windows table exists
    timings: dict[str, list[float]] = {"app": [], **{name: [] for name in KPI_REFERENCE_QUERIES}}
    for _ in range(KPI_REPEATS):
        kpi_prune_runs()
        app()
        timings["app"].append(app.seconds)
        for name, sql in KPI_REFERENCE_QUERIES.items():
            timings[name].append(kpi_best_of(1, reference(sql)))
    app_s = min(timings.pop("app"))
    reference_s = min(min(values) for values in timings.values())
    return {
        "app_s": f"{app_s:.3f}", "reference_s": f"{reference_s:.3f}", "ratio": f"{app_s / reference_s:.2f}",
        "matched_s": f"{matched['s']:.3f}",
    }


def kpi_import_one_day(scale: int, day_number: int) -> None:
    """One day's contacts (2,300 at 1x) for random residents, loaded the way an import loads them."""
    import datetime
    import io
    import random

    from django.db import connection, transaction

    from caseload.services import service_use_load

    rng = random.Random(day_number)
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM caseload_resident")
        first, last = cursor.fetchone()
    day = datetime.date.today() - datetime.timedelta(days=1)
    staged = io.StringIO()
    for index in range(KPI_CONTACTS_A_DAY_AT_1X * scale):
        kind = rng.choices([k for k, _ in KPI_KIND_SHARES], weights=[w for _, w in KPI_KIND_SHARES])[0]
        staged.write(f"{rng.randint(first, last)},{day.isoformat()},{kind},bench-day,{day_number}-{index}\n")
    with transaction.atomic():
        service_use_load(staged)


def kpi_time_incremental(scale: int) -> dict[str, str]:
    from kpis.tasks import recompute_kpis

    recompute_kpis.apply(kwargs={"full": True}).get()
    timings = []
    for repeat in range(KPI_REPEATS):
        kpi_prune_runs()
        kpi_import_one_day(scale, day_number=int(time.time()) * 10 + repeat)
        started = time.perf_counter()
        recompute_kpis.apply(kwargs={"full": False}).get()
        timings.append(time.perf_counter() - started)
    return {"s": f"{min(timings):.3f}"}


def kpi_time_dashboard(scale: int) -> dict[str, str]:
    from int_app.teams.models import User

    kpi_prune_runs()
    client = Client()
    client.force_login(User.objects.get(email=KPI_BENCH_LEAD_EMAIL))
    ms, queries, _response = page_timing(client, "/kpis/", repeats=20, secure=True)
    return {"ms": f"{ms:.1f}", "queries": queries}


def bench_kpis(bench: Bench) -> None:
    if not bench.wants("kpi_recompute", "kpi_incremental", "dashboard"):
        return
    scale = kpi_scale()
    with kpi_database(scale):
        with connection.cursor() as cursor:
            built = kpi_city_is_built(cursor, scale)
        if not built:
            started = time.perf_counter()
            kpi_build_city(scale)
            print(f"(built the scale-{scale} KPI city in {time.perf_counter() - started:.0f} s)", file=sys.stderr)
        if bench.wants("kpi_recompute"):
            bench.report("kpi_recompute", scale=scale, **kpi_time_recompute(scale))
        if bench.wants("kpi_incremental"):
            bench.report("kpi_incremental", scale=scale, **kpi_time_incremental(scale))
        if bench.wants("dashboard"):
            bench.report("dashboard", scale=scale, **kpi_time_dashboard(scale))


BENCHES.append(bench_kpis)


# --- pages under load ------------------------------------------------------------------------
# Each main page served by gunicorn (3 workers, DEBUG off, the production middleware) from the
# demo data, driven by PAGE_CONNECTIONS keep-alive connections for PAGE_SECONDS each, as requests
# per second relative to the product's own /healthz in the same run (absolute figures drift between
# machines; the ratio does not much). Loopback only: the server binds 127.0.0.1 and the load
# generator speaks only to it.

PAGE_CONNECTIONS = 10
PAGE_SECONDS = float(os.environ.get("PAGE_SECONDS", "5"))
# Python load generators share one interpreter lock; two processes of five connections keep the
# generator from being the bottleneck on two cores.
PAGE_LOAD_PROCESSES = 2
DEMO_PASSWORD = "int-demo-2026"
LOOPBACK = "127.0.0.1"


def pages_environment(port: int) -> dict[str, str]:
    """The server's environment: production settings, except plain http on the loopback."""
    from urllib.parse import urlsplit, urlunsplit

    database = urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{connection.settings_dict['NAME']}")
    environment = {key: value for key, value in os.environ.items() if key != "DJANGO_DEBUG"}
    environment.update(
        DATABASE_URL=urlunsplit(database),
        DJANGO_ALLOWED_HOSTS=LOOPBACK,
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_SECURE_COOKIES="false",
        INT_STATIC_MANIFEST=os.environ.get("INT_STATIC_MANIFEST", "false"),  # as `make test`: no collectstatic needed
        INT_REQUIRE_MFA="false",
        LOG_LEVEL="WARNING",
    )
    return environment


def pages_request(conn, method: str, path: str, cookies: dict[str, str], body: str | None = None, headers: dict | None = None):
    import http.client

    headers = {"Host": LOOPBACK, **(headers or {})}
    if cookies:
        headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
    conn.request(method, path, body=body, headers=headers)
    response: http.client.HTTPResponse = conn.getresponse()
    content = response.read()
    for header, value in response.getheaders():
        if header.lower() == "set-cookie":
            name, _, rest = value.partition("=")
            cookies[name] = rest.split(";", 1)[0]
    return response, content


def pages_sign_in(port: int, email: str) -> dict[str, str]:
    """Sign in through the login form, as a person would; returns the session's cookies."""
    import http.client
    from urllib.parse import urlencode

    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
    cookies: dict[str, str] = {}
    pages_request(conn, "GET", "/accounts/login/", cookies)
    body = urlencode({"login": email, "password": DEMO_PASSWORD, "csrfmiddlewaretoken": cookies["csrftoken"]})
    response, _content = pages_request(
        conn, "POST", "/accounts/login/", cookies, body,
        {"Content-Type": "application/x-www-form-urlencoded", "Referer": f"http://{LOOPBACK}:{port}/accounts/login/"},
    )
    assert response.status == 302 and "/accounts/login/" not in response.getheader("Location", ""), (email, response.status)
    conn.close()
    return cookies


def pages_load_process(port: int, path: str, cookies: dict[str, str], connections: int, until: float, results) -> None:
    """Runs in a process of its own: `connections` threads, each with a keep-alive connection,
    requesting the page until `until`; puts each request's seconds (or an error) on `results`."""
    import http.client
    import threading

    latencies: list[float] = []
    errors: list[str] = []

    def one_connection() -> None:
        conn = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
        headers = {"Host": LOOPBACK, "Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items())}
        mine = []
        while time.perf_counter() < until:
            started = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()  # http.client opens a new connection by itself when the server closes this one
            except (OSError, http.client.HTTPException) as error:
                errors.append(repr(error))
                conn.close()
                continue
            if response.status != 200:
                errors.append(f"{response.status} {response.getheader('Location', '')}")
            mine.append(time.perf_counter() - started)
        latencies.extend(mine)
        conn.close()

    threads = [threading.Thread(target=one_connection) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put((latencies, errors[:5], len(errors)))


def pages_drive(port: int, path: str, cookies: dict[str, str]) -> tuple[float, float]:
    """Requests per second and p99 milliseconds of a page at PAGE_CONNECTIONS connections."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    results = context.Queue()
    per_process = PAGE_CONNECTIONS // PAGE_LOAD_PROCESSES
    # A second of warm-up, not counted (only the last round's figures are kept): each worker's
    # first requests load templates and URLs.
    for seconds in (1.0, PAGE_SECONDS):
        started = time.perf_counter()
        until = started + seconds
        processes = [
            context.Process(target=pages_load_process, args=(port, path, cookies, per_process, until, results))
            for _ in range(PAGE_LOAD_PROCESSES)
        ]
        for process in processes:
            process.start()
        gathered = [results.get(timeout=seconds + 60) for _ in processes]
        for process in processes:
            process.join()
        elapsed = time.perf_counter() - started
    latencies = sorted(seconds for batch, _errors, _count in gathered for seconds in batch)
    error_count = sum(count for _batch, _errors, count in gathered)
    assert not error_count and latencies, (path, error_count, [error for _b, errors, _c in gathered for error in errors])
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return len(latencies) / elapsed, p99 * 1000


def pages_agenda(team_slug: str) -> str:
    """An agenda of 30 residents of the demo team (fill_agenda): the address of its page."""
    from int_app.teams.models import Team
    from tests.meetings.factories import make_meeting

    team = Team.objects.get(slug=team_slug)
    meeting = make_meeting(team, days_ahead=200)  # clear of the demo's own meetings
    fill_agenda(team, meeting, name="Pages", waiting=False)
    return f"/meetings/teams/{team.slug}/{meeting.pk}/agenda/"


def bench_pages(bench: Bench) -> None:
    if not bench.wants("page"):
        return
    import signal
    import socket
    import subprocess
    import urllib.request

    from caseload.models import Resident

    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port = sock.getsockname()[1]
    environment = pages_environment(port)
    python = str(ROOT / ".venv" / "bin" / "python")
    subprocess.run([python, "manage.py", "seed_demo", "--once"], cwd=ROOT, env={**environment, "INT_DEMO_MODE": "true"}, check=True, stdout=subprocess.DEVNULL)
    agenda = pages_agenda("east")
    resident = Resident.objects.filter(team__slug="east", status=Resident.Status.ACTIVE).exclude(family_name__startswith="Pages").order_by("pk").first()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    connection.close()  # the load processes are forked: they must not share this connection
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "int_app.wsgi:application", "--bind", f"{LOOPBACK}:{port}", "--workers", "3", "--log-level", "warning"],
        cwd=ROOT, env=environment,
    )
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(f"http://{LOOPBACK}:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        lead, ot, coordinator = (pages_sign_in(port, f"{role}@east.demo") for role in ("lead", "ot", "coordinator"))
        pages = [
            ("healthz", "/healthz", {}),
            ("login", "/accounts/login/", {}),
            ("dashboard_lead", "/kpis/", lead),
            ("my_actions_ot", "/meetings/actions/", ot),
            ("caseload_coordinator", "/caseload/teams/east/", coordinator),
            ("pressure_lead", "/pressure/", lead),
            ("resident_coordinator", f"/caseload/teams/east/residents/{resident.pk}/", coordinator),
            (f"agenda_{AGENDA_ITEMS}_items", agenda, coordinator),
        ]
        # /healthz again at the end: on a shared machine the floor can move during the run, and
        # a ratio is only as good as the floor it was taken against.
        pages.append(("healthz_end", "/healthz", {}))
        floor = None
        for name, path, cookies in pages:
            rps, p99_ms = pages_drive(port, path, cookies)
            floor = floor or rps
            bench.report("page", name=name, ratio=f"{rps / floor:.2f}", rps=f"{rps:.0f}", p99_ms=f"{p99_ms:.0f}")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


# First: the demo's seeding steps each stand back when their tables already hold rows, which the
# other sections' teams would be.
BENCHES.insert(0, bench_pages)


def bench_page_cpu(bench: Bench) -> None:
    """The CPU a request to each main page costs in this process (the test client, the production
    middleware, DEBUG off; median of PAGE_CPU_REPEATS after 5 warm-ups), steadier than gunicorn's
    ratios on a shared machine: `bench page_cpu name=<page> cpu_ms=<ms> queries=<n>`. Issue #17's
    ratio is roughly 1.06 / (cpu_ms + 0.56) on an idle machine. A repeated request of a page whose
    data has not changed is served from the page cache (ADR 0026)."""
    if not bench.wants("page_cpu"):
        return
    from django.core.management import call_command

    from caseload.models import Resident
    from meetings.models import Meeting

    # Known passwords in a database of its own that is dropped at the end, as bench page seeds it.
    call_command("seed_demo", once=True, force=True, stdout=open(os.devnull, "w"))  # noqa: SIM115 - closed with the process
    agenda = next(
        (f"/meetings/teams/east/{m.pk}/agenda/" for m in Meeting.objects.filter(team__slug="east", items__resident__family_name="Pages00")),
        None,
    ) or pages_agenda("east")
    resident = Resident.objects.filter(team__slug="east", status=Resident.Status.ACTIVE).exclude(family_name__startswith="Pages").order_by("pk").first()
    clients = {}
    for role in ("lead", "ot", "coordinator"):
        clients[role] = Client()
        assert clients[role].post("/accounts/login/", {"login": f"{role}@east.demo", "password": DEMO_PASSWORD}).status_code == 302
    repeats = int(os.environ.get("PAGE_CPU_REPEATS", "40"))
    for name, path, client in [
        ("healthz", "/healthz", Client()),
        ("dashboard_lead", "/kpis/", clients["lead"]),
        ("my_actions_ot", "/meetings/actions/", clients["ot"]),
        ("caseload_coordinator", "/caseload/teams/east/", clients["coordinator"]),
        ("pressure_lead", "/pressure/", clients["lead"]),
        ("resident_coordinator", f"/caseload/teams/east/residents/{resident.pk}/", clients["coordinator"]),
        (f"agenda_{AGENDA_ITEMS}_items", agenda, clients["coordinator"]),
    ]:
        for _ in range(5):
            assert client.get(path).status_code == 200, name
        timings = []
        for _ in range(repeats):
            started = time.process_time()
            client.get(path)
            timings.append((time.process_time() - started) * 1000)
        with CaptureQueriesContext(connection) as queries:
            client.get(path)
        bench.report("page_cpu", name=name, cpu_ms=f"{statistics.median(timings):.2f}", queries=len(queries))


BENCHES.insert(1, bench_page_cpu)

# --- kpi_matched ---------------------------------------------------------------------------------
# The matched comparison of a KPI run (kpis/matching.py) at city scale: at 1x, 20,000 supported
# residents among 1.1 million registered people in ten teams' population extracts (24 months,
# about 12 million contact rows). Built in SQL in a database of its own, int_bench_matched<scale>,
# kept between runs. The scale is MATCHED_SCALE (default 0.05: 1,000 residents among 55,000 people,
# about a minute with the build; MATCHED_SCALE=1 for the city). Prints:
#
#   bench kpi_matched scale=<n> s=<the matched comparison> run_s=<the whole KPI run> residents=<n> people=<n> pairs=<n>
#       extract_s=<building the extracts' histories and cells, once per extract version; 0 when already built>
#       incremental_s=<the matched comparison of an incremental run after a day's service-use import>
#       incremental_run_s=<that whole run> searched=<residents it searched for again (0: all reused)>
#
# `s` is a full run's, which searches for every resident's comparison people (as the first run
# after a new extract does); the incremental run reuses the stored ones (docs/adr/0027).
#
# One run, not the best of several: the city takes long to match and the machine is shared.

MATCHED_RESIDENTS_AT_1X = 20_000
MATCHED_PEOPLE_AT_1X = 1_100_000


def matched_scale() -> float:
    return float(os.environ.get("MATCHED_SCALE") or 0.05)


@contextmanager
def matched_database(scale: float):
    settings_dict = connection.settings_dict
    shared_name, shared_test_name = settings_dict["NAME"], settings_dict["TEST"].get("NAME")
    settings_dict["TEST"]["NAME"] = os.environ.get("MATCHED_DATABASE") or f"int_bench_matched{str(scale).replace('.', '_')}"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=True)
    try:
        yield
    finally:
        connection.close()
        settings_dict["NAME"] = settings.DATABASES[connection.alias]["NAME"] = shared_name
        settings_dict["TEST"]["NAME"] = shared_test_name


def matched_build_city(residents: int, people: int) -> None:
    """Ten teams of three PCNs of four practices; each team's current extract over 24 months ending
    last month, people with a lasting need and noisy months; residents are people of it, the
    heavier users likelier, supported from a start 7 to 12 months ago."""
    import pgtrigger

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE kpis_kpirun, kpis_processvalue, kpis_outcomesums, kpis_residentwindow, kpis_residentusage, kpis_matchedpair, "
            "kpis_matchedvalue, kpis_matchedbalance, caseload_populationperson, "
            "caseload_populationextract, caseload_serviceuseevent, caseload_resident, teams_practice, teams_pcn, "
            "teams_team, teams_neighbourhood, teams_place CASCADE"
        )
        cursor.execute("SELECT setseed(0.2026)")
        cursor.execute("INSERT INTO teams_place (name, ods_sub_icb_codes) VALUES ('Bench City', '{}')")
        cursor.execute(
            "INSERT INTO teams_neighbourhood (place_id, name) SELECT (SELECT id FROM teams_place), 'Neighbourhood ' || g "
            "FROM generate_series(1, 10) g"
        )
        cursor.execute("INSERT INTO teams_team (neighbourhood_id, name, slug) SELECT id, 'Team ' || id, 'bench-' || id FROM teams_neighbourhood")
        cursor.execute(
            "INSERT INTO teams_pcn (neighbourhood_id, name, ods_code) SELECT nb.id, 'PCN ' || nb.id || '-' || g, "
            "'U' || lpad((nb.id * 10 + g)::text, 5, '0') FROM teams_neighbourhood nb CROSS JOIN generate_series(1, 3) g"
        )
        cursor.execute(
            "INSERT INTO teams_practice (pcn_id, name, ods_code, status, shared_mailbox, address, postcode) "
            "SELECT p.id, 'Practice ' || p.id || '-' || g, 'B' || lpad((p.id * 10 + g)::text, 5, '0'), 'A', '', '', '' "
            "FROM teams_pcn p CROSS JOIN generate_series(1, 4) g"
        )
        first = "date_trunc('month', current_date - interval '24 months')::date"
        last = "date_trunc('month', current_date - interval '1 month')::date"
        cursor.execute(
            "INSERT INTO caseload_populationextract (team_id, file_name, stored_as, checksum, status, is_current, rows_total, "
            "rows_checked, rows_loaded, people, first_month, last_month, error_count, errors, created_at) "
            f"SELECT id, 'bench.csv', '', '', 'done', true, 0, 0, 0, 0, {first}, {last}, 0, '[]', now() FROM teams_team"
        )
        cursor.execute(
            """
            CREATE TEMP TABLE bench_people AS
            WITH practices AS (
                SELECT pr.id, x.id AS extract_id, row_number() OVER (ORDER BY pr.id) - 1 AS position
                FROM teams_practice pr JOIN teams_pcn p ON p.id = pr.pcn_id
                JOIN teams_team t ON t.neighbourhood_id = p.neighbourhood_id
                JOIN caseload_populationextract x ON x.team_id = t.id
            )
            SELECT g, lpad((2000000000 + g)::text, 10, '0') AS nhs, pr.id AS practice_id, pr.extract_id,
                   (1925 + floor(random() * 95))::smallint AS birth_year, CASE WHEN random() < 0.51 THEN 'F' ELSE 'M' END AS sex,
                   -ln(1 - random()) * 0.6 AS need
            FROM generate_series(1, %s) g JOIN practices pr ON pr.position = g %% (SELECT count(*) FROM teams_practice)
            """,
            [people],
        )
        # Each person's contacts as the two arrays the load writes (caseload's contact_slot).
        cursor.execute(
            f"""
            INSERT INTO caseload_populationperson (extract_id, nhs_number, practice_id, birth_year, sex, recent_emergency,
                recent_total, before_emergency, before_total, recent_by_kind, contact_slots, contact_counts)
            SELECT b.extract_id, b.nhs, b.practice_id, b.birth_year, b.sex, 0, 0, 0, 0, '{{0,0,0,0,0,0,0,0}}',
                   coalesce(c.slots, '{{}}'), coalesce(c.counts, '{{}}')
            FROM bench_people b
            CROSS JOIN LATERAL (
                SELECT array_agg((((extract(year FROM m.month)::int - 2000) * 12 + extract(month FROM m.month)::int - 1) * 8 + k.kind - 1)::smallint
                                 ORDER BY m.month, k.kind) AS slots,
                       array_agg((1 + (random() < 0.2)::int)::smallint ORDER BY m.month, k.kind) AS counts
                FROM generate_series({first}, {last}, interval '1 month') m(month)
                CROSS JOIN (VALUES (1, 0.45), (2, 0.08), (3, 0.03), (4, 0.04), (6, 0.14), (7, 0.14)) k(kind, share)
                WHERE random() < b.need * k.share
            ) c
            """
        )
        with pgtrigger.ignore("caseload.Resident:insert_insert"):
            cursor.execute(
                """
                WITH chosen AS (
                    SELECT b.*, pr.pcn_id, t.id AS team_id,
                           (date_trunc('month', current_date) - make_interval(months => 7 + floor(random() * 6)::int))::date
                             + floor(random() * 28)::int AS start
                    FROM bench_people b JOIN teams_practice pr ON pr.id = b.practice_id
                    JOIN teams_pcn p ON p.id = pr.pcn_id JOIN teams_team t ON t.neighbourhood_id = p.neighbourhood_id
                    ORDER BY b.need * random() DESC LIMIT %s
                )
                INSERT INTO caseload_resident
                    (nhs_number, given_name, family_name, date_of_birth, status, referral_date, referral_source,
                     referral_reason, referrer, not_accepted_reason, not_accepted_detail, intervention_start,
                     consent_method, stepped_down_on, step_down_outcome, feedback_comment, restriction_reason,
                     created_at, updated_at, version, practice_id, team_id)
                SELECT nhs, 'Bench', 'Resident ' || g, make_date(birth_year, 6, 1), 'stepped_down', start - 10, 'gp',
                       'Bench', 'Bench GP', '', '', start, '', start + 60, 'goals_met', '', '', now(), now(), 1, practice_id, team_id
                FROM chosen
                """,
                [residents],
            )
    kpi_vacuum_analyse("caseload_populationperson", "caseload_resident")


def bench_kpi_matched(bench: Bench) -> None:
    if not bench.wants("kpi_matched"):
        return
    from kpis import compute
    from kpis.compute import kpis_recompute
    from kpis.models import MatchedPair

    scale = matched_scale()
    residents, people = round(MATCHED_RESIDENTS_AT_1X * scale), round(MATCHED_PEOPLE_AT_1X * scale)
    with matched_database(scale):
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM caseload_populationperson")
            built = cursor.fetchone()[0] == people
        if not built:
            started = time.perf_counter()
            matched_build_city(residents, people)
            print(f"(built the scale-{scale} population in {time.perf_counter() - started:.0f} s)", file=sys.stderr)
        # Each extract version's people histories and cells are built once (kpis/matching.py), by
        # the first run after the extract is loaded: built here first, and timed apart, so the
        # run timed below is any later run's.
        from django.db import transaction

        from kpis.matching import population_histories_update

        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL work_mem = '256MB'")
            cursor.execute("SET LOCAL jit = off")
            population_histories_update(cursor)
        prepare_s = time.perf_counter() - started
        timing = {}
        original = compute.write_matched

        def timed(cursor, run):
            started = time.perf_counter()
            rows = original(cursor, run)
            timing["s"] = time.perf_counter() - started
            return rows

        compute.write_matched = timed
        try:
            # Service use in the city, so that the run after the next import may be incremental
            # (a run builds on one that had counted some).
            kpi_import_one_day(1, day_number=int(time.time()) - 1)
            started = time.perf_counter()
            run = kpis_recompute()
            run_s = time.perf_counter() - started
            full_s = timing["s"]
            kpi_import_one_day(1, day_number=int(time.time()))
            started = time.perf_counter()
            incremental = kpis_recompute(full=False)
            incremental_run_s = time.perf_counter() - started
        finally:
            compute.write_matched = original
        bench.report(
            "kpi_matched", scale=scale, s=f"{full_s:.1f}", run_s=f"{run_s:.1f}", residents=residents, people=people,
            pairs=MatchedPair.objects.filter(run=run).count(), extract_s=f"{prepare_s:.1f}",
            incremental_s=f"{timing['s']:.1f}", incremental_run_s=f"{incremental_run_s:.1f}",
            searched=incremental.residents_searched,
        )


BENCHES.append(bench_kpi_matched)


def main() -> int:
    # The test client's host; setup_test_environment() would add it too, but it also instruments
    # every template render, which would make the timings wrong.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    connection.settings_dict.setdefault("TEST", {})["NAME"] = BENCH_DATABASE
    original = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        bench = Bench()
        for section in BENCHES:
            section(bench)
    finally:
        connection.creation.destroy_test_db(original, verbosity=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
