from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.crypto import salted_hmac

from .roles import KEY_WORKER_ROLES, RIGHTS, Right, Role
from .validators import (
    pcn_ods_code_validator,
    practice_ods_code_validator,
    single_line_validator,
    sub_icb_code_validator,
)


class Place(models.Model):
    """A city or borough holding several neighbourhoods."""

    name = models.CharField(max_length=120, unique=True, validators=[single_line_validator])
    # The place's GP practices, as the ODS files know them: those whose commissioner (the practice's
    # sub-ICB location, e.g. 15E) is one of these codes (ADR 0011).
    ods_sub_icb_codes = ArrayField(
        models.CharField(max_length=5, validators=[sub_icb_code_validator]),
        blank=True,
        default=list,
        verbose_name="ODS sub-ICB location codes",
        help_text="Comma-separated, e.g. 15E: the ODS import loads the GP practices these commission.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class NeighbourhoodQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> NeighbourhoodQuerySet:
        return self.filter(team__in=Team.objects.visible_to(user, right))


class Neighbourhood(models.Model):
    place = models.ForeignKey(Place, on_delete=models.PROTECT, related_name="neighbourhoods")
    name = models.CharField(max_length=120, validators=[single_line_validator])

    objects = NeighbourhoodQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["place", "name"], name="neighbourhood_unique_name_in_place")
        ]

    def __str__(self) -> str:
        return self.name


class PCNQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> PCNQuerySet:
        """The PCNs of the user's teams; with `right`, of the teams where they hold it."""
        if right is not None:
            return self.filter(neighbourhood__team__in=Team.objects.with_right(user, right)).distinct()
        if user.is_superuser:
            return self
        return self.filter(neighbourhood__team__memberships__user=user).distinct()


class PCN(models.Model):
    """A Primary Care Network: a group of practices serving 30,000 to 50,000 people.

    Which neighbourhood a PCN belongs to is a local decision the ODS does not carry: a PCN the ODS
    import meets for the first time has none until an admin assigns it (ADR 0011), and until then
    its practices belong to no team."""

    neighbourhood = models.ForeignKey(
        Neighbourhood, on_delete=models.PROTECT, related_name="pcns", null=True, blank=True,
        help_text="Empty for a PCN loaded from the ODS and not yet assigned: its practices are in no team.",
    )
    name = models.CharField(max_length=120, validators=[single_line_validator])
    ods_code = models.CharField("ODS code", max_length=10, unique=True, validators=[pcn_ods_code_validator])

    objects = PCNQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = "PCN"
        verbose_name_plural = "PCNs"
        constraints = [
            models.CheckConstraint(condition=Q(ods_code__regex=r"^U[0-9]{5}$"), name="pcn_ods_code_format")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.ods_code})"


class PracticeQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> PracticeQuerySet:
        """The practices of the user's teams; with `right`, of the teams where they hold it, where
        a membership tied to one practice (a practice manager's) carries its rights for that
        practice only."""
        if right is not None:
            if not user.is_authenticated:
                return self.none()
            # From the memberships read once per request (which the rights checks and the header
            # use too): plain lists of ids, where subqueries through memberships and teams made
            # each pressure page spend milliseconds building and planning SQL.
            holding = user.memberships_with_right(right)
            return self.filter(
                Q(pcn__neighbourhood__team__in=[m.team_id for m in holding if m.practice_id is None])
                | Q(pk__in=[m.practice_id for m in holding if m.practice_id is not None])
            )
        if user.is_superuser:
            return self
        return self.filter(pcn__neighbourhood__team__memberships__user=user).distinct()

    def open(self) -> PracticeQuerySet:
        """Not closed (by the ODS): those a new referral may name."""
        return self.exclude(status=Practice.Status.CLOSED)


class Practice(models.Model):
    """A GP practice, identified by its ODS code; loaded from the ODS files (int_app/teams/ods.py)."""

    class Status(models.TextChoices):
        # The ODS status codes (epraccur's "Status Code").
        ACTIVE = "A", "Active"
        CLOSED = "C", "Closed"
        DORMANT = "D", "Dormant"
        PROPOSED = "P", "Proposed"

    pcn = models.ForeignKey(PCN, on_delete=models.PROTECT, related_name="practices")
    name = models.CharField(max_length=160, validators=[single_line_validator])
    ods_code = models.CharField(
        "ODS code", max_length=10, unique=True, validators=[practice_ods_code_validator]
    )
    # The practice's shared NHSmail mailbox: where outcome summaries of its patients' discussions go.
    shared_mailbox = models.EmailField(blank=True)
    # Registered patients (NHS England's "Patients registered at a GP practice"), for figures per
    # 1,000 patients; empty until a list-size file is loaded.
    list_size = models.PositiveIntegerField(null=True, blank=True)
    list_size_on = models.DateField("list size as at", null=True, blank=True)
    # From the ODS practices file (epraccur); empty for a practice typed in by hand.
    address = models.CharField(max_length=250, blank=True, validators=[single_line_validator])
    postcode = models.CharField(max_length=8, blank=True, validators=[single_line_validator])
    opened_on = models.DateField(null=True, blank=True)
    closed_on = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=1, choices=Status.choices, default=Status.ACTIVE)

    objects = PracticeQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ods_code__regex=r"^[A-Z][0-9]{5}$"), name="practice_ods_code_format"
            ),
            models.CheckConstraint(condition=Q(status__in=["A", "C", "D", "P"]), name="practice_status_known"),
            models.CheckConstraint(
                condition=Q(closed_on__isnull=True) | Q(opened_on__isnull=True) | Q(closed_on__gte=F("opened_on")),
                name="practice_closed_after_opened",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.ods_code})"

    @property
    def is_closed(self) -> bool:
        """Closed, as the ODS says: nothing more is expected of it (weekly pressure reports)."""
        return self.status == self.Status.CLOSED


class PCNMembershipQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> PCNMembershipQuerySet:
        return self.filter(practice__in=Practice.objects.visible_to(user, right))


class PCNMembership(models.Model):
    """A practice's time in a PCN (the ODS "core partner" relationship), kept when it moves: the
    practice's `pcn` is the current one, these rows are the history."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="pcn_memberships")
    pcn = models.ForeignKey(PCN, on_delete=models.PROTECT, related_name="memberships")
    # Empty when not known: a practice typed in before its first ODS import.
    started_on = models.DateField(null=True, blank=True)
    ended_on = models.DateField(null=True, blank=True)

    objects = PCNMembershipQuerySet.as_manager()

    class Meta:
        ordering = ["practice__ods_code", F("started_on").asc(nulls_first=True)]
        verbose_name = "PCN membership"
        constraints = [
            models.UniqueConstraint(
                fields=["practice", "pcn", "started_on"], nulls_distinct=False, name="pcn_membership_unique_start"
            ),
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True) | Q(started_on__isnull=True) | Q(ended_on__gte=F("started_on")),
                name="pcn_membership_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.practice.ods_code} in {self.pcn.ods_code} from {self.started_on or '?'} to {self.ended_on or 'now'}"


class TeamQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> TeamQuerySet:
        """The teams a user belongs to: the root of every other team-scoped query. With `right`,
        only the teams where their role carries it (`with_right`)."""
        if right is not None:
            return self.with_right(user, right)
        if not user.is_authenticated:
            return self.none()
        if user.is_superuser:
            return self
        if user.memberships_are_read():
            return self.filter(pk__in=sorted({m.team_id for m in user.memberships_with_teams()}))
        return self.filter(memberships__user=user).distinct()

    def with_right(self, user, right: Right) -> TeamQuerySet:
        """The teams in which the user holds a role that carries `right`, each team judged by the
        user's role in it alone: a right held in one team never reaches another. As `has_right`,
        being a superuser is not a role in a team.

        Once the request has read the person's memberships (`User.memberships_with_teams`, which
        every rights check and the header do), the teams are those ids: every scoped query then
        says `team_id IN (…)` instead of repeating a join to the memberships with DISTINCT, and
        agrees with `has_right` by construction. Before, the join, which costs no extra query."""
        if not user.is_authenticated:
            return self.none()
        if user.memberships_are_read():
            return self.filter(pk__in=sorted({m.team_id for m in user.memberships_with_right(right)}))
        return self.filter(memberships__user=user, memberships__role__in=RIGHTS[right]).distinct()


class Team(models.Model):
    """An Integrated Neighbourhood Team: serves one neighbourhood and so covers its PCNs."""

    neighbourhood = models.OneToOneField(Neighbourhood, on_delete=models.PROTECT, related_name="team")
    name = models.CharField(max_length=120, unique=True, validators=[single_line_validator])
    slug = models.SlugField(max_length=60, unique=True)

    objects = TeamQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def pcns(self) -> models.QuerySet[PCN]:
        return PCN.objects.filter(neighbourhood_id=self.neighbourhood_id)

    @property
    def practices(self) -> models.QuerySet[Practice]:
        return Practice.objects.filter(pcn__neighbourhood_id=self.neighbourhood_id)

    def key_workers(self) -> models.QuerySet[Membership]:
        return self.memberships.filter(role__in=KEY_WORKER_ROLES).select_related("user", "organisation")


class Organisation(models.Model):
    """An employer: every person in an INT works for one."""

    class Kind(models.TextChoices):
        GP_PRACTICE = "gp_practice", "GP practice"
        COUNCIL = "council", "Council"
        COMMUNITY_TRUST = "community_trust", "Community trust"
        MENTAL_HEALTH_TRUST = "mental_health_trust", "Mental health trust"
        VOLUNTARY = "voluntary", "Voluntary body"
        PCN_OR_ICB = "pcn_or_icb", "PCN or ICB"

    name = models.CharField(max_length=160, unique=True, validators=[single_line_validator])
    kind = models.CharField(max_length=30, choices=Kind.choices)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra) -> User:
        if not email:
            raise ValueError("A user needs an email address.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=160, validators=[single_line_validator])
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="Staff admins set up places, teams and accounts.")
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    class Meta:
        ordering = ["full_name"]
        constraints = [
            # One account per address whatever its case: an invitation, a password login and an NHS
            # CIS2 sign-in all find the account by its email, ignoring case.
            models.UniqueConstraint(Lower("email"), name="user_email_unique_ignoring_case"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email

    def get_full_name(self) -> str:
        return self.full_name

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email

    def memberships_with_teams(self) -> list[Membership]:
        """Memberships are few per user, so one read (cached on the user, which lives for one
        request) serves every rights check and the header's navigation."""
        if not hasattr(self, "_memberships_cache"):
            self._memberships_cache = list(self.memberships.select_related("team").order_by("team__name", "pk"))
        return self._memberships_cache

    def memberships_are_read(self) -> bool:
        """Whether this request has read the memberships already (so a scope can use them free)."""
        return hasattr(self, "_memberships_cache")

    def memberships_with_right(self, right: Right) -> list[Membership]:
        """The memberships whose role carries `right`, from the one read per request: each team is
        judged by the role held in it, as `Team.objects.with_right` does in SQL."""
        return [m for m in self.memberships_with_teams() if m.role in RIGHTS[right]]

    def roles_in(self, team: Team) -> set[str]:
        return {m.role for m in self.memberships_with_teams() if m.team_id == team.pk}


class MembershipQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> MembershipQuerySet:
        return self.filter(team__in=Team.objects.visible_to(user, right))


class Membership(models.Model):
    """A person's role in one team, and the organisation they work for there."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=30, choices=Role.choices)
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="memberships")
    # Only for practice managers: the one practice they report for.
    practice = models.ForeignKey(
        Practice, on_delete=models.PROTECT, related_name="managers", null=True, blank=True
    )

    objects = MembershipQuerySet.as_manager()

    class Meta:
        ordering = ["team__name", "role", "user__full_name"]
        constraints = [
            models.UniqueConstraint(fields=["user", "team"], name="membership_one_role_per_team"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role_known"),
            models.CheckConstraint(
                condition=Q(role=Role.PRACTICE_MANAGER, practice__isnull=False)
                | (~Q(role=Role.PRACTICE_MANAGER) & Q(practice__isnull=True)),
                name="membership_practice_only_for_practice_managers",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} – {self.get_role_display()}, {self.team}"

    @property
    def is_key_worker(self) -> bool:
        return self.role in KEY_WORKER_ROLES


class InvitationRefused(Exception):
    """The invitation cannot make this move (it was accepted, revoked or has expired)."""


class InvitationQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> InvitationQuerySet:
        """With `right`, the invitations of the teams where the person's role carries it (the
        access review asks REVIEW_ACCESS), as for every team's data. Without, the ones a staff
        admin manages: those of the teams they belong to (a superuser's: every team's), and
        nobody else's, whatever their role."""
        if right is not None:
            return self.filter(team__in=Team.objects.with_right(user, right))
        if not user.is_authenticated or not user.is_staff:
            return self.none()
        return self.filter(team__in=Team.objects.visible_to(user))

    def pending(self) -> InvitationQuerySet:
        return self.filter(accepted_at__isnull=True, revoked_at__isnull=True)


class Invitation(models.Model):
    """A staff admin's invitation of one person into one team. The account (and membership) is
    made when the invitation is, with no usable password, so that nobody can sign in with it
    until the person follows the emailed link, sets a password and enrols an authenticator app.

    Only a hash of the link's token is stored. The token itself is an HMAC of the invitation and a
    random salt under the secret key: the worker that emails the link works it out again, so a
    retried email carries the same link, and resending draws a new salt, which kills the old link."""

    class State(models.TextChoices):
        PENDING = "pending", "Waiting"
        EXPIRED = "expired", "Expired"
        ACCEPTED = "accepted", "Accepted"
        REVOKED = "revoked", "Revoked"

    VALID_FOR = dt.timedelta(days=7)

    email = models.EmailField()
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="invitations")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=30, choices=Role.choices)
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    invited_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    invited_at = models.DateTimeField(default=timezone.now)
    token_salt = models.CharField(max_length=32)
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    times_sent = models.PositiveSmallIntegerField(default=0)
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-invited_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(accepted_at__isnull=True) | Q(revoked_at__isnull=True),
                name="invitation_accepted_or_revoked_not_both",
            ),
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_open_per_person",
            ),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="invitation_role_known"),
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.team}"

    @staticmethod
    def hash_of(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def token(self) -> str:
        """The link's token, worked out again from the salt (never stored)."""
        return salted_hmac("int_app.teams.Invitation", f"{self.pk}:{self.token_salt}", algorithm="sha256").hexdigest()

    def new_token(self, now: dt.datetime) -> None:
        """A new salt (the old link dies), a fresh seven days. Saves the invitation."""
        self.token_salt = secrets.token_hex(16)
        if self.pk is None:
            # The token names the invitation, so it needs a primary key: a placeholder hash first.
            self.token_hash = secrets.token_hex(32)
            self.expires_at = now + self.VALID_FOR
            self.save()
        self.token_hash = self.hash_of(self.token())
        self.expires_at = now + self.VALID_FOR
        self.save(update_fields=["token_salt", "token_hash", "expires_at"])

    def state_at(self, now: dt.datetime) -> State:
        if self.accepted_at:
            return self.State.ACCEPTED
        if self.revoked_at:
            return self.State.REVOKED
        if now >= self.expires_at:
            return self.State.EXPIRED
        return self.State.PENDING

    @property
    def state(self) -> State:
        return self.state_at(timezone.now())

    def ensure_open(self) -> None:
        """Resending and revoking are for an invitation nobody has accepted or revoked (an expired
        one may be sent again)."""
        if self.accepted_at:
            raise InvitationRefused(f"{self.email} has already accepted this invitation.")
        if self.revoked_at:
            raise InvitationRefused(f"The invitation to {self.email} was revoked.")


class WorkerHeartbeat(models.Model):
    """Written by a periodic Celery task so that /readyz can say when a worker last ran."""

    name = models.CharField(max_length=60, primary_key=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.seen_at:%Y-%m-%d %H:%M:%S}"
