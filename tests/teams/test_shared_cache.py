"""Web processes share one cache (Redis): what one process learns, every other knows."""

import os
import subprocess
import sys
import time
from pathlib import Path

import time_machine
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
)
from django.conf import settings

from ..conftest import database_url_of
from ..factories import PASSWORD

PERIOD = 30


def web_process(email: str, redis_url: str) -> subprocess.Popen:
    from django.db import connection

    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "int_app.settings",
        "DATABASE_URL": database_url_of(connection),
        "REDIS_URL": redis_url,
        "DATABASE_CONN_MAX_AGE": "0",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.teams.login_process", email, PASSWORD],
        cwd=Path(settings.BASE_DIR), env=environment, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def real_time() -> float:
    """The wall clock the web processes read: a travelling suite (INT_TEST_NOW) moves only ours."""
    return time_machine.escape_hatch.time.time() if time_machine.escape_hatch.is_travelling() else time.time()


def code_with_time_left(secret: str, seconds: int = 8) -> str:
    """This period's code, once at least `seconds` of the period remain, so it cannot expire
    between the two logins and pass for a refusal."""
    if PERIOD - real_time() % PERIOD < seconds:
        time.sleep(PERIOD - real_time() % PERIOD + 0.1)
    return format_hotp_value(hotp_value(secret, int(real_time()) // PERIOD))


def offer(process: subprocess.Popen, code: str) -> str:
    process.stdin.write(code + "\n")
    process.stdin.flush()
    answer = process.stdout.readline().strip()
    process.wait(timeout=30)
    return answer or process.stderr.read()


def test_a_totp_code_used_in_one_web_process_is_refused_by_another(transactional_db, coordinator, redis_url):
    secret = generate_totp_secret()
    TOTP.activate(coordinator, secret)
    first, second = web_process(coordinator.email, redis_url), web_process(coordinator.email, redis_url)
    try:
        # Both have checked the password and now ask for the code, each in its own memory.
        for process in (first, second):
            assert process.stdout.readline().strip() == "password 302 /accounts/2fa/authenticate/", process.stderr.read()
        code = code_with_time_left(secret)
        started = real_time()
        assert offer(first, code) == "accepted"
        assert offer(second, code) == "refused", "the same code let a second login in"
        assert real_time() - started < 8, "the code may have expired rather than been refused as used"
    finally:
        for process in (first, second):
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


def test_a_deployment_without_a_shared_cache_is_warned(settings):
    from django.core.checks import run_checks

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert "int.W001" in {message.id for message in run_checks(include_deployment_checks=True, tags=["caches"])}
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:6379/0"}}
    assert "int.W001" not in {message.id for message in run_checks(include_deployment_checks=True, tags=["caches"])}
