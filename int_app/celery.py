import os
import smtplib

from celery import Celery, shared_task

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "int_app.settings")

app = Celery("int_app")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def transient_errors() -> tuple[type[BaseException], ...]:
    """Faults that pass: the database or the broker restarting, a dropped connection, a mail
    server that hung up. Anything else is a bug or bad data, and retrying would not help."""
    from django.db import InterfaceError, OperationalError
    from kombu.exceptions import OperationalError as BrokerError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return (
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


# Every task of the project: acknowledged only when it has finished (a worker lost part-way
# leaves the message to be delivered again, which is why every task is safe to run twice), and
# retried with exponential backoff and jitter (1 s, 2 s, 4 s... at most 10 minutes apart, six
# tries in all) when the database or the broker is briefly away.
DURABLE_TASK_OPTIONS = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": transient_errors(),
    "retry_backoff": True,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 5,
}


def durable_task(*args, **options):
    """`shared_task` with the project's delivery and retry policy (DURABLE_TASK_OPTIONS)."""
    return shared_task(*args, **(DURABLE_TASK_OPTIONS | options))
