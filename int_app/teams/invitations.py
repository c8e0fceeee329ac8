"""Accounts by invitation: a staff admin invites a person into one of their teams, by a form or a
CSV file of many; the person follows the emailed link within seven days, sets a password and
enrols an authenticator app. Every move (invite, resend, revoke, accept) is one audited event: the
invitation's row is copied by pghistory's trigger with the move named in its context, and a log
line says who did what (docs/adr/0013-accounts-by-invitation.md).

The account and its membership exist from the moment of the invitation (active, with no usable
password), so that the team list, the access review and an NHS CIS2 sign-in find the person by
their email straight away; revoking an invitation nobody accepted switches the account off.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import pghistory
import structlog
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from int_app.celery import enqueue_on_commit

from .models import Invitation, InvitationRefused, Membership, Organisation, Practice, Team, User
from .roles import Role
from .validators import single_line_validator

logger = structlog.get_logger("int_app.teams.invitations")

CSV_COLUMNS = ["email", "given_name", "family_name", "team", "role", "organisation"]
# A practice manager reports for one practice: their row names it by ODS code in a seventh column.
CSV_OPTIONAL_COLUMNS = ["practice"]
CSV_MAX_ROWS = 500
NAME_MAX = 79  # given and family name, so that "given family" fits the 160 of a full name


@dataclass
class Invitee:
    """One person to invite, as checked: from the form or one line of a CSV file."""

    email: str
    given_name: str
    family_name: str
    team: Team
    role: str
    organisation: Organisation
    practice: Practice | None = None

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"


def teams_to_invite_into(admin: User) -> list[Team]:
    """A staff admin invites into the teams they belong to; a superuser into any."""
    if not admin.is_staff:
        return []
    return list(Team.objects.visible_to(admin).order_by("name"))


def clean_email(raw: str) -> str:
    email = (raw or "").strip().lower()
    if not email:
        raise ValidationError("Give an email address.")
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError(f"“{email[:80]}” is not an email address.") from None
    return email


def clean_name(raw: str, what: str) -> str:
    name = " ".join((raw or "").split())
    if not name:
        raise ValidationError(f"Give the {what}.")
    if len(name) > NAME_MAX:
        raise ValidationError(f"The {what} is longer than {NAME_MAX} characters.")
    single_line_validator(name)
    return name


def account_problem(email: str) -> str | None:
    """Why this address cannot be invited, or None. An account made by an invitation that was
    revoked before anyone used it may be invited again; any other account is a person already."""
    existing = User.objects.filter(email__iexact=email).first()
    if existing is None:
        return None
    if existing.invitations.pending().exists():
        return f"{email} has an invitation waiting already: send it again from the list instead."
    if existing.is_active or existing.has_usable_password() or existing.last_login is not None:
        return f"{email} has an account already: add them to the team in Set-up (the admin)."
    return None


def check_invitee(invitee: Invitee) -> list[str]:
    """The checks both doors share, once each field reads well on its own."""
    problems = []
    if invitee.role == Role.PRACTICE_MANAGER:
        if invitee.practice is None:
            problems.append("A practice manager needs the ODS code of their practice.")
        elif invitee.practice.pcn.neighbourhood_id != invitee.team.neighbourhood_id:
            problems.append(f"{invitee.practice.ods_code} is not one of {invitee.team.name}'s practices.")
    elif invitee.practice is not None:
        problems.append("Only a practice manager is tied to a practice: leave the practice empty.")
    if problem := account_problem(invitee.email):
        problems.append(problem)
    return problems


# --- The CSV file ---------------------------------------------------------------------------------


@dataclass
class LineProblem:
    line: int
    message: str


def _lookup(options: dict[str, object], raw: str):
    return options.get(" ".join((raw or "").split()).casefold())


def read_invitees_csv(content: bytes, *, admin: User) -> tuple[list[Invitee], list[LineProblem]]:
    """Every line checked; any problem means nobody is invited (the caller invites only when the
    problem list is empty). Teams by slug or name, roles by code or label, organisations by name,
    all ignoring case."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [LineProblem(1, "The file is not UTF-8 text: save it from your spreadsheet as “CSV UTF-8”.")]
    if "\x00" in text:
        return [], [LineProblem(1, "The file holds a NUL character: it is not a CSV file.")]
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    problems: list[LineProblem] = []
    try:
        header = [column.strip().lower() for column in next(reader, [])]
    except csv.Error as error:
        return [], [LineProblem(1, f"The first line cannot be read as CSV ({error}).")]
    if header not in (CSV_COLUMNS, CSV_COLUMNS + CSV_OPTIONAL_COLUMNS):
        return [], [LineProblem(1, f"The first line must be {','.join(CSV_COLUMNS)} (and, for practice managers, ,practice).")]

    mine = teams_to_invite_into(admin)
    teams = {team.slug.casefold(): team for team in mine} | {team.name.casefold(): team for team in mine}
    everyone = {team.name.casefold(): team for team in Team.objects.all()} | {
        team.slug.casefold(): team for team in Team.objects.all()
    }
    roles = {value.casefold(): value for value in Role.values} | {label.casefold(): value for value, label in Role.choices}
    organisations = {org.name.casefold(): org for org in Organisation.objects.all()}
    practices = {p.ods_code.casefold(): p for p in Practice.objects.select_related("pcn")}
    invitees: list[Invitee] = []
    first_line_of: dict[str, int] = {}
    line = 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            problems.append(LineProblem(reader.line_num, f"This line cannot be read as CSV ({error})."))
            break
        line = reader.line_num
        if not any(value.strip() for value in values):
            continue
        if len(invitees) + len(problems) >= CSV_MAX_ROWS:
            problems.append(LineProblem(line, f"A file may invite at most {CSV_MAX_ROWS} people: split it."))
            break
        if len(values) not in (len(CSV_COLUMNS), len(header)):
            problems.append(LineProblem(line, f"Expected {len(header)} values, found {len(values)}."))
            continue
        record = dict(zip(header, values, strict=False))
        line_problems: list[str] = []
        fields: dict[str, object] = {}
        for name, clean in (
            ("email", clean_email),
            ("given_name", lambda raw: clean_name(raw, "given name")),
            ("family_name", lambda raw: clean_name(raw, "family name")),
        ):
            try:
                fields[name] = clean(record.get(name, ""))
            except ValidationError as error:
                line_problems.extend(error.messages)
        team = _lookup(teams, record.get("team", ""))
        if team is None:
            named = record.get("team", "").strip()[:80]
            line_problems.append(
                f"You cannot invite people into “{named}”: it is not one of your teams."
                if _lookup(everyone, named)
                else f"There is no team called “{named}”."
            )
        role = _lookup(roles, record.get("role", ""))
        if role is None:
            line_problems.append(f"“{record.get('role', '').strip()[:80]}” is not a role in a team.")
        organisation = _lookup(organisations, record.get("organisation", ""))
        if organisation is None:
            line_problems.append(
                f"There is no organisation called “{record.get('organisation', '').strip()[:80]}”: a superuser adds employers in Set-up."
            )
        practice = None
        if (record.get("practice") or "").strip():
            practice = _lookup(practices, record["practice"])
            if practice is None:
                line_problems.append(f"There is no practice with the ODS code “{record['practice'].strip()[:20]}”.")
        email = fields.get("email")
        if isinstance(email, str):
            if email in first_line_of:
                line_problems.append(f"{email} is on line {first_line_of[email]} already: invite a person once.")
            else:
                first_line_of[email] = line
        if not line_problems:
            invitee = Invitee(team=team, role=role, organisation=organisation, practice=practice, **fields)
            line_problems = check_invitee(invitee)
            if not line_problems:
                invitees.append(invitee)
        problems.extend(LineProblem(line, message) for message in line_problems)
    if not invitees and not problems:
        problems.append(LineProblem(line, "The file names nobody to invite."))
    return invitees, problems


# --- The moves --------------------------------------------------------------------------------


def _send(invitation: Invitation) -> None:
    from .tasks import send_invitation

    enqueue_on_commit(send_invitation, invitation.pk, invitation.token_salt)


@transaction.atomic
def invitation_create(*, invitee: Invitee, by: User) -> Invitation:
    """The account (no usable password), its membership and the invitation; the email goes once
    this commits."""
    with pghistory.context(invitation="invited"):
        user = User.objects.filter(email__iexact=invitee.email).first()
        if user is None:
            user = User(email=invitee.email)
        user.full_name = invitee.full_name
        user.is_active = True
        user.set_unusable_password()
        user.save()
        Membership.objects.update_or_create(
            user=user,
            team=invitee.team,
            defaults={"role": invitee.role, "organisation": invitee.organisation, "practice": invitee.practice},
        )
        invitation = Invitation(
            email=invitee.email,
            user=user,
            team=invitee.team,
            role=invitee.role,
            organisation=invitee.organisation,
            practice=invitee.practice,
            invited_by=by,
            invited_at=timezone.now(),
        )
        invitation.new_token(invitation.invited_at)
    logger.info("invitation_created", invitation_id=invitation.pk, invited_user_id=user.pk, team=invitee.team.slug, by_user_id=by.pk)
    _send(invitation)
    return invitation


@transaction.atomic
def invitations_create(*, invitees: list[Invitee], by: User) -> list[Invitation]:
    """All or nothing: the whole file's people in one transaction."""
    return [invitation_create(invitee=invitee, by=by) for invitee in invitees]


def _locked(invitation: Invitation) -> Invitation:
    return Invitation.objects.select_for_update().select_related("user", "team").get(pk=invitation.pk)


@transaction.atomic
def invitation_resend(*, invitation: Invitation, by: User) -> Invitation:
    """A new link, valid seven days from now; the old link no longer works."""
    invitation = _locked(invitation)
    invitation.ensure_open()
    with pghistory.context(invitation="resent"):
        invitation.new_token(timezone.now())
    logger.info("invitation_resent", invitation_id=invitation.pk, invited_user_id=invitation.user_id, by_user_id=by.pk)
    _send(invitation)
    return invitation


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, by: User) -> Invitation:
    """The link stops working and the account made for it is switched off (nothing else ends:
    nobody has signed in with it)."""
    invitation = _locked(invitation)
    invitation.ensure_open()
    with pghistory.context(invitation="revoked"):
        invitation.revoked_at = timezone.now()
        invitation.revoked_by = by
        invitation.save(update_fields=["revoked_at", "revoked_by"])
        user = invitation.user
        user.is_active = False
        user.save(update_fields=["is_active"])
    logger.info("invitation_revoked", invitation_id=invitation.pk, invited_user_id=user.pk, by_user_id=by.pk)
    return invitation


def invitation_for_token(token: str) -> Invitation | None:
    if not token or len(token) > 128:
        return None
    return (
        Invitation.objects.filter(token_hash=Invitation.hash_of(token))
        .select_related("user", "team", "invited_by", "organisation")
        .first()
    )


@transaction.atomic
def invitation_accept(*, invitation: Invitation, password: str) -> User:
    """The person's own password; the link is used up. Refused unless the invitation is waiting
    (two tabs submitting at once: the second is refused)."""
    invitation = _locked(invitation)
    invitation.ensure_open()
    now = timezone.now()
    if invitation.state_at(now) != Invitation.State.PENDING:
        raise InvitationRefused("This invitation has expired.")
    with pghistory.context(invitation="accepted"):
        user = invitation.user
        user.set_password(password)
        user.save(update_fields=["password"])
        invitation.accepted_at = now
        invitation.save(update_fields=["accepted_at"])
    logger.info("invitation_accepted", invitation_id=invitation.pk, invited_user_id=user.pk)
    return user


def invitations_accept_through_cis2(*, user: User) -> int:
    """A waiting invitee signed in with NHS CIS2 (the identity matched their invited address): their
    waiting invitations are accepted, with no password chosen. The number accepted."""
    now = timezone.now()
    accepted = 0
    with pghistory.context(invitation="accepted"):
        for invitation in user.invitations.pending().select_for_update():
            if invitation.state_at(now) != Invitation.State.PENDING:
                continue  # expired: the identity still signs in (the account is active), the link is dead
            invitation.accepted_at = now
            invitation.save(update_fields=["accepted_at"])
            accepted += 1
            logger.info("invitation_accepted", invitation_id=invitation.pk, invited_user_id=user.pk, through="cis2")
    return accepted


def invitation_email_send(*, invitation_id: int, salt: str) -> bool:
    """Called by the worker: the link of the invitation as it stands. A task queued before a
    resend (another salt) or for an invitation no longer waiting sends nothing."""
    from django.conf import settings
    from django.template.loader import render_to_string
    from django.urls import reverse

    from .mail import email_send

    invitation = Invitation.objects.select_related("team", "invited_by").filter(pk=invitation_id).first()
    if invitation is None or invitation.token_salt != salt or invitation.state != Invitation.State.PENDING:
        return False
    link = f"{settings.INT_SITE_URL.rstrip('/')}{reverse('invitation_accept', args=[invitation.token()])}"
    context = {"invitation": invitation, "link": link, "role": Role(invitation.role).label}
    email_send(
        subject=f"You are invited to join {invitation.team.name} on INT case meetings",
        body=render_to_string("teams/email/invitation.txt", context),
        to=[invitation.email],
    )
    Invitation.objects.filter(pk=invitation.pk, token_salt=salt).update(
        sent_at=timezone.now(), times_sent=invitation.times_sent + 1
    )
    return True
