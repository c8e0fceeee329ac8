from django.utils import timezone

from int_app.celery import durable_task

from .mail import email_send
from .models import WorkerHeartbeat


@durable_task
def record_worker_heartbeat(name: str = "celery") -> str:
    """Idempotent: the same row is overwritten on every beat."""
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(name=name, defaults={"seen_at": now})
    return now.isoformat()


@durable_task
def send_rendered_email(subject: str, body: str, to: list[str], from_email: str | None = None, html: str | None = None) -> None:
    """An email rendered during a request (allauth's password reset), sent off it. A retry after
    the mail server took the message could send it twice; for these emails that is harmless."""
    email_send(subject=subject, body=body, to=to, from_email=from_email, html=html)


@durable_task
def send_invitation(invitation_id: int, salt: str) -> bool:
    """The invitation's link, by email. Safe to run twice: the same link again, and nothing for an
    invitation resent (another salt), accepted or revoked since it was queued."""
    from .invitations import invitation_email_send

    return invitation_email_send(invitation_id=invitation_id, salt=salt)
