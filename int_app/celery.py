import os
import smtplib

from celery import Celery, shared_task
from django.db import InterfaceError, OperationalError, transaction
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "int_app.settings")

app = Celery("int_app")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Faults that pass: the database or the broker restarting, a dropped connection, a mail server
# that hung up. Anything else is a bug or bad data, and retrying would not help.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    BrokerError,
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,
    TimeoutError,
    smtplib.SMTPServerDisconnected,
    smtplib.SMTPConnectError,
)

# Every task of the project is acknowledged only when it has finished, and a worker lost part-way
# leaves its message to be delivered again (CELERY_TASK_ACKS_LATE and
# CELERY_TASK_REJECT_ON_WORKER_LOST in settings), which is why every task is safe to run twice.
# On top of that, a task meeting a passing fault is retried with exponential backoff and jitter
# (1 s, 2 s, 4 s... at most 10 minutes apart, six tries in all).
RETRY_OPTIONS = {
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": True,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 5,
}


def durable_task(*args, **options):
    """`shared_task` with the project's retry policy (RETRY_OPTIONS)."""
    return shared_task(*args, **(RETRY_OPTIONS | options))


def enqueue_on_commit(task, *args) -> None:
    """Queue `task` once the current transaction has committed. Robust: a broker that cannot be
    reached, or a task that fails when run in-process, is logged rather than turning a change that
    is already saved into a server error."""
    transaction.on_commit(lambda: task.delay(*args), robust=True)
