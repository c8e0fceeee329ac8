"""Shared fixtures: two teams ("own" and "other") fully staffed, a real Redis, a real worker."""

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis
from django.conf import settings

from int_app.teams.models import Team, User
from int_app.teams.roles import Role

from .factories import make_team


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


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """REDIS_URL when it answers; otherwise a private redis-server on a free port. Never skips."""
    url = settings.REDIS_URL or "redis://127.0.0.1:6379/0"
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
    private_url = f"redis://127.0.0.1:{port}/0"
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

    previous_broker, previous_eager = app.conf.broker_url, app.conf.task_always_eager
    _use_broker(app, redis_url)
    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as worker:
            yield worker
    finally:
        app.conf.task_always_eager = previous_eager
        _use_broker(app, previous_broker)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    # Django's default hasher takes most of a second per password by design; tests make dozens.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
