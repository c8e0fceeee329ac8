import time

from django.contrib.auth.signals import user_logged_in
from django.db import transaction
from django.db.models.signals import pre_save
from django.dispatch import Signal, receiver
from django.http import HttpRequest

from .models import User

SESSION_STARTED_KEY = "int_session_started"

# Sent once the switching off of an account has committed, with `user_id`. The layers above react
# (meetings lists the person's open actions for their coordinators to hand on); this layer never
# imports them (ADR 0008).
user_deactivated = Signal()


@receiver(user_logged_in)
def remember_when_the_session_started(sender, request: HttpRequest | None, user, **kwargs) -> None:
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_STARTED_KEY] = int(time.time())


@receiver(pre_save, sender=User)
def end_sessions_of_a_deactivated_user(sender, instance: User, **kwargs) -> None:
    """Someone who leaves the team is logged out everywhere the moment their account is switched off."""
    if instance.pk is None or instance.is_active:
        return
    was_active = User.objects.filter(pk=instance.pk, is_active=True).exists()
    if was_active:
        transaction.on_commit(lambda: end_all_sessions(instance))
        transaction.on_commit(lambda: user_deactivated.send(sender=User, user_id=instance.pk), robust=True)


def end_all_sessions(user: User) -> int:
    from allauth.usersessions.models import UserSession

    sessions = list(UserSession.objects.filter(user=user))
    for session in sessions:
        session.end()
    return len(sessions)
