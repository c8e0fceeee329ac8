from int_app.celery import durable_task
from django.utils import timezone

from .models import WorkerHeartbeat


@durable_task
def record_worker_heartbeat(name: str = "celery") -> str:
    """Idempotent: the same row is overwritten on every beat."""
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(name=name, defaults={"seen_at": now})
    return now.isoformat()
