"""Shared fixtures: two teams ("own" and "other") fully staffed, a real Redis, a real worker."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
import redis
from django.conf import settings

from int_app.teams.models import Team, User
from int_app.teams.roles import Role

from .factories import make_team


def pytest_configure(config) -> None:
    """INT_TEST_NOW=2027-03-28T01:30+00:00 runs the whole suite as if it were that moment (clock
    ticking from there), to show that no test depends on the day it runs. Naive times are London's."""
    moment = os.environ.get("INT_TEST_NOW")
    if not moment:
        return
    import datetime as dt
    import zoneinfo

    import time_machine

    when = dt.datetime.fromisoformat(moment)
    if when.tzinfo is None:
        when = when.replace(tzinfo=zoneinfo.ZoneInfo("Europe/London"))
    config._int_test_now = time_machine.travel(when, tick=True)
    config._int_test_now.start()


@pytest.fixture
def own_team(db) -> Team:
    return make_team("Own")


@pytest.fixture
def other_team(db) -> Team:
    return make_team("Other")


def member(team: Team, role: str) -> User:
    return team.memberships.select_related("user").get(role=role).user


@pytest.fixture
def coordinator(own_team) -> User:
    return member(own_team, Role.COORDINATOR)


@pytest.fixture
def outsider(other_team) -> User:
    """The coordinator of another team: must never see our team's data."""
    return member(other_team, Role.COORDINATOR)


def _redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _own_database(url: str) -> str:
    """The Redis database after the given one, one per parallel process: REDIS_URL's /3 gives
    gw0 /4 and gw1 /5, so two checkouts tested at once on distinct bases never share a queue."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1"... when run in parallel
    if not worker:
        return url
    parsed = urlsplit(url)
    base = int(parsed.path.strip("/") or 0)
    return urlunsplit(parsed._replace(path=f"/{base + 1 + int(worker.removeprefix('gw'))}"))


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """REDIS_URL when it answers; otherwise a private redis-server on a free port. Never skips.
    Parallel test processes (pytest-xdist) each take a Redis database of their own, so that one
    process's worker never takes another's tasks."""
    url = _own_database(settings.REDIS_URL or "redis://127.0.0.1:6379/0")
    if _redis_answers(url):
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(
            f"No Redis answers at {url} and no redis-server is installed to start one: "
            "install it (Debian: apt-get install redis-server) or set REDIS_URL."
        )
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    private_url = _own_database(f"redis://127.0.0.1:{port}/0")
    for _ in range(50):
        if _redis_answers(private_url):
            break
        time.sleep(0.1)
    else:
        process.kill()
        pytest.fail(f"Started redis-server on port {port} but it did not answer.")
    try:
        yield private_url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session", autouse=True)
def _shared_cache(redis_url) -> Iterator[None]:
    """Django's cache is Redis, as in production: the answering one, in this test process's own
    database (parallel processes would otherwise share rate limits and used TOTP codes). It starts
    empty, so nothing cached by an earlier run (the KPI figures of a run with the same id) leaks in."""
    from django.core.cache import cache
    from django.test import override_settings

    shared = {"BACKEND": "int_app.cache.ReusedClientRedisCache", "LOCATION": redis_url, "KEY_PREFIX": "int-cache"}
    with override_settings(CACHES={"default": shared}):
        cache.clear()
        yield


def _use_broker(app, url: str) -> None:
    if app.conf.broker_url == url:
        return
    # Pools made for the previous broker would keep talking to it.
    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def live_worker(redis_url, transactional_db) -> Iterator[object]:
    """A real Celery worker thread consuming from real Redis, tasks no longer eager."""
    from celery.contrib.testing.worker import start_worker

    from int_app.celery import app

    with _tasks_sent_to(app, redis_url), _logging_kept():
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as worker:
            yield worker


@contextmanager
def _logging_kept() -> Iterator[None]:
    """Logging as it was before: starting a worker in this process sets Celery's logging up (the
    root logger's handlers and level, loggers switched off or no longer propagating), after which
    later tests' caplog stopped seeing the app's warnings (the CIS2 refusals' reasons)."""
    import logging

    root = logging.getLogger()
    kept_root = (root.level, list(root.handlers))
    kept = {
        name: (logger.level, logger.disabled, logger.propagate, list(logger.handlers))
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    try:
        yield
    finally:
        root.level, root.handlers[:] = kept_root[0], kept_root[1]
        for name, (level, disabled, propagate, handlers) in kept.items():
            logger = logging.getLogger(name)
            logger.level, logger.disabled, logger.propagate, logger.handlers[:] = level, disabled, propagate, handlers


@contextmanager
def _tasks_sent_to(app, redis_url: str) -> Iterator[None]:
    """Tasks are queued on this Redis for a real worker, not run in-process, until the block ends."""
    previous_broker, previous_eager = app.conf.broker_url, app.conf.task_always_eager
    _use_broker(app, redis_url)
    app.conf.task_always_eager = False
    try:
        yield
    finally:
        app.conf.task_always_eager = previous_eager
        _use_broker(app, previous_broker)


@pytest.fixture(scope="session", autouse=True)
def _own_import_folder(tmp_path_factory) -> Iterator[None]:
    """Uploads wait under a folder of this test process's own, not the checkout's .data/imports:
    parallel processes would otherwise see each other's files (a test that checks a loaded file
    is not kept would fail when another process's upload lands at the same moment). Set in the
    environment too, so worker processes a test starts read the same folder."""
    from django.test import override_settings

    folder = tmp_path_factory.mktemp("imports")
    previous = os.environ.get("INT_IMPORT_DIR")
    os.environ["INT_IMPORT_DIR"] = str(folder)
    with override_settings(INT_IMPORT_DIR=folder):
        yield
    if previous is None:
        os.environ.pop("INT_IMPORT_DIR", None)
    else:
        os.environ["INT_IMPORT_DIR"] = previous


# When each test of this process started (the real clock, which PostgreSQL's backend_start uses
# whatever INT_TEST_NOW says), to name the test that opened a session left connected at the end.
_TESTS_STARTED: list[tuple[float, str]] = []


def _real_time() -> float:
    import time_machine

    return time_machine.escape_hatch.time.time() if time_machine.escape_hatch.is_travelling() else time.time()


def pytest_runtest_logstart(nodeid: str, location) -> None:
    _TESTS_STARTED.append((_real_time(), nodeid))


def _test_running_at(moment: float) -> str:
    started = [nodeid for at, nodeid in _TESTS_STARTED if at <= moment]
    return started[-1] if started else "before the first test"


# Who opened each database session of this process, by its backend pid: the thread and the code,
# to say where a session left connected at the end came from.
_SESSIONS_OPENED: dict[int, str] = {}


def _note_who_opened(sender, connection, **kwargs) -> None:
    import threading
    import traceback

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    # The nearest frames of ours, then the nearest of the libraries' (a worker thread may have none of ours).
    stack = traceback.extract_stack()[:-1]
    ours = [frame for frame in stack if "/site-packages/" not in frame.filename and "/lib/python" not in frame.filename][-5:]
    theirs = [frame for frame in stack if frame not in ours][-4:]
    where = " <- ".join(f"{'/'.join(Path(frame.filename).parts[-2:])}:{frame.lineno} {frame.name}" for frame in reversed(ours + theirs))
    _SESSIONS_OPENED[pid] = f"thread {threading.current_thread().name}, from {where}"


@pytest.fixture(scope="session", autouse=True)
def _no_session_left_open(django_db_setup, django_db_blocker) -> Iterator[None]:
    """At the end, no other session may still be connected to the test database, or dropping it
    fails (pytest-django then only warns, and the database is left behind). A session still there
    a few seconds after the last test is named in a warning, by what it last ran, and ended, so
    the database is dropped all the same."""
    from django.db.backends.signals import connection_created

    connection_created.connect(_note_who_opened, dispatch_uid="tests-note-who-opened")
    yield
    import warnings

    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        others = "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        for _ in range(50):
            cursor.execute(f"SELECT pid, application_name, state, left(query, 300), extract(epoch FROM backend_start) {others}")  # noqa: S608 - our SQL
            left_open = cursor.fetchall()
            if not left_open:
                return
            time.sleep(0.1)
        for pid, application, state, query, opened in left_open:
            warnings.warn(
                f"A session was left connected to the test database ({application or 'no name'}, {state}), "
                f"opened while {_test_running_at(float(opened))} ran, by {_SESSIONS_OPENED.get(pid, 'another process')}; "
                f"its last statement: {query}",
                stacklevel=1,
            )
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])


FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session", autouse=True)
def _quick_test_settings() -> Iterator[None]:
    """Settings that make tests quick without changing what they see, for the whole session (so
    that worlds built once per module have them too):
    - Django's default password hasher takes most of a second per password by design; tests
      make dozens.
    - Every test client builds the middleware chain afresh, and WhiteNoise serving from the
      finders (as in tests) lists every static file as it is built: 90 ms per client, and the
      access matrix alone makes two thousand clients. With autorefresh it looks a file up
      when it is asked for, from the same finders.
    - The demo's population extracts hold 15,000 people a team; the tests that seed the whole
      demo (several modules) get 1,500, which is every kind of person still, in a tenth of the time."""
    from django.test import override_settings

    from caseload import demo

    people, demo.POPULATION_PEOPLE_PER_TEAM = demo.POPULATION_PEOPLE_PER_TEAM, 1_500
    with override_settings(PASSWORD_HASHERS=FAST_HASHERS, WHITENOISE_AUTOREFRESH=True):
        yield
    demo.POPULATION_PEOPLE_PER_TEAM = people


@pytest.fixture
def quiet_request_logs() -> Iterator[None]:
    """For tests that make thousands of requests (the access matrix, the fuzz tests): the two JSON
    lines each request logs are a sixth of their time, and nobody reads them. Logging itself is
    tested in tests/teams/test_logs.py."""
    import logging

    request_logs = logging.getLogger("django_structlog")
    level = request_logs.level
    request_logs.setLevel(logging.WARNING)
    yield
    request_logs.setLevel(level)


def pytest_collection_modifyitems(config, items: list[pytest.Item]) -> None:
    """Modules with slow tests (marked `slow`, `browser` or `worker`) run first, each kept whole so
    that its module-scoped fixtures are built once. Parallel workers (`--dist worksteal`, see the
    Makefile) then share out the quick tests at the end and finish together, instead of one
    worker grinding through the slowest file alone while the other waits."""
    slow_markers = {"slow", "browser", "worker"}
    def module(item: pytest.Item) -> str:
        return item.nodeid.split("::", 1)[0]

    slow_modules = {module(item) for item in items if slow_markers & {mark.name for mark in item.iter_markers()}}
    items.sort(key=lambda item: module(item) not in slow_modules)  # a stable sort: order within each group kept


def database_url_of(connection) -> str:
    """The URL of the database a connection uses (the test database, during tests)."""
    db = connection.settings_dict
    credentials = quote(db["USER"], safe="") + (f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else "")
    if db["HOST"].startswith("/"):
        return f"postgresql://{credentials}@/{quote(db['NAME'])}?host={quote(db['HOST'])}"
    return f"postgresql://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{quote(db['NAME'])}"


@dataclass
class WorkerProcess:
    """A `celery worker` in its own process group, consuming a queue of its own."""

    process: subprocess.Popen
    queue: str

    def kill(self) -> None:
        """As the kernel's OOM killer or a pulled plug would: no chance to clean up."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@pytest.fixture
def worker_process(redis_url, transactional_db) -> Iterator[WorkerProcess]:
    """A real worker process against real Redis and the test database, with the tests' tasks
    sent to it; unlike `live_worker` it can be killed."""
    from django.db import connection

    from int_app.celery import app

    queue = f"test-{uuid.uuid4().hex}"
    environment = {
        **os.environ,
        "DATABASE_URL": database_url_of(connection),
        "REDIS_URL": redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DATABASE_CONN_MAX_AGE": "0",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "int_app", "worker", "--pool=prefork", "--concurrency=1",
         "-Q", queue, "--without-mingle", "--without-gossip", "--loglevel=WARNING"],
        cwd=Path(settings.BASE_DIR),
        env=environment,
        start_new_session=True,
    )
    worker = WorkerProcess(process=process, queue=queue)
    try:
        with _tasks_sent_to(app, redis_url):
            yield worker
    finally:
        if process.poll() is None:
            worker.kill()
        redis.Redis.from_url(redis_url).delete(queue)
