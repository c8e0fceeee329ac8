from __future__ import annotations

import calendar
import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Count, F, Max, OuterRef, Q, Subquery, Value
from django.db.models.functions import Concat, Greatest, TruncMonth
from django.utils import timezone

from int_app.teams import dates
from int_app.teams.models import Practice, Team, User
from int_app.teams.roles import Right

from .nhs_number import normalise_nhs_number, validate_nhs_number


class JourneyRefused(ValidationError):
    """A change the resident's journey does not allow, in words the coordinator can act on."""


class StaleRecord(JourneyRefused):
    """Someone else saved the resident after this person opened the page."""


# Word similarity at or above which a name counts as a match: "Margret" scores 0.55 against
# "Margaret Begum", while unrelated names such as "Martin Evans" score under 0.4.
NAME_MATCH_THRESHOLD = 0.45


class ResidentQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> ResidentQuerySet:
        """The one place that decides who sees a resident: members of the resident's team who
        take part in case discussions. PCN leads see aggregates only, never a resident. With
        `right`, only the residents of the teams where the user's role also carries it."""
        teams = Team.objects.with_right(user, Right.VIEW_CASES)
        if right is not None:
            teams = teams.filter(pk__in=Team.objects.with_right(user, right))
        # A restricted record (the resident objected or withdrew consent) is kept, and read only by
        # whoever keeps the team's records: for everyone else it does not exist (404, ADR 0018).
        keepers = Team.objects.with_right(user, Right.MANAGE_RECORDS)
        return self.filter(team__in=teams).filter(Q(restricted_at__isnull=True) | Q(team__in=keepers))

    def open_to_planning(self) -> ResidentQuerySet:
        """Residents the team may plan for: suggestions, agendas and case finding choose from these
        only. A restricted record is kept but not used; a retired one holds nobody any more."""
        return self.filter(restricted_at__isnull=True, retired_at__isnull=True)

    def restricted(self) -> ResidentQuerySet:
        return self.filter(restricted_at__isnull=False)

    def due_for_retirement(self, today: datetime.date | None = None) -> ResidentQuerySet:
        """Closed records whose retention period (settings.INT_RETENTION_YEARS after closure) has
        ended by `today` and that still hold personal details."""
        return self.filter(
            status=Resident.Status.CLOSED, retired_at__isnull=True, closed_on__lte=retention_cutoff(today)
        )

    def open(self) -> ResidentQuerySet:
        return self.filter(status__in=Resident.Status.open_values())

    def with_last_contact(self) -> ResidentQuerySet:
        """`last_contact`: when the team last did something with the resident: the latest event
        in their journey, or the latest contact recorded from above (`last_contact_at`: a case
        discussion, an action update), whichever is later."""
        latest = (
            ResidentEvent.objects.filter(resident=OuterRef("pk"))
            .order_by()
            .values("resident")
            .annotate(latest=Max("occurred_at"))
            .values("latest")
        )
        # PostgreSQL's GREATEST skips NULLs: either alone is the answer, neither is NULL.
        return self.annotate(
            last_contact=Greatest(Subquery(latest, output_field=models.DateTimeField()), F("last_contact_at"))
        )

    def record_contact(self, *, at: datetime.datetime) -> int:
        """Note a contact with these residents at `at`; an earlier one never replaces a later.
        A plain UPDATE: neither `updated_at` nor `version` moves, so an edit form open on the
        resident does not turn stale because the team discussed them."""
        return self.update(last_contact_at=Greatest(F("last_contact_at"), Value(at)))

    def without_contact_since(self, moment: datetime.datetime) -> ResidentQuerySet:
        """Needs with_last_contact(): residents nobody has been in touch with since the moment."""
        return self.filter(Q(last_contact__lt=moment) | Q(last_contact__isnull=True))

    def without_consent(self) -> ResidentQuerySet:
        return self.filter(consent_date__isnull=True)

    def matching(self, query: str) -> ResidentQuerySet:
        """Search by NHS number (whole or its start) or by name, tolerant of typos: "Margret"
        finds Margaret. Annotates `name_match` (0 to 1) for sorting by relevance."""
        query = query.strip()
        digits = normalise_nhs_number(query)
        if digits.isdigit():
            if len(digits) == 10:
                return self.filter(nhs_number=digits)
            return self.filter(nhs_number__startswith=digits)
        from django.contrib.postgres.search import TrigramWordSimilarity

        # pg_trgm's `%>` operator would use the index but only at its 0.6 threshold, which misses
        # "Margret" for Margaret (0.55). A search always runs inside one team's caseload (a few
        # hundred rows), so scoring those rows directly is cheap; ILIKE, which the trigram index
        # serves, catches the one- and two-letter starts that have too few trigrams to score.
        return self.annotate(name_match=TrigramWordSimilarity(query, "search_name")).filter(
            Q(name_match__gte=NAME_MATCH_THRESHOLD) | Q(search_name__icontains=query)
        )


class Resident(models.Model):
    """One resident's journey with the INT, from referral to closure.

    A resident referred again after their case closed gets a new row: each row is one episode,
    so the service-use measures can compare before and after each intervention.
    """

    class Status(models.TextChoices):
        REFERRED = "referred", "Referred, awaiting triage"
        ACCEPTED = "accepted", "Accepted"
        NOT_ACCEPTED = "not_accepted", "Not accepted"
        ACTIVE = "active", "Active"
        STEPPED_DOWN = "stepped_down", "Stepped down"
        CLOSED = "closed", "Closed"

        @classmethod
        def open_values(cls) -> list[str]:
            return [cls.REFERRED, cls.ACCEPTED, cls.ACTIVE, cls.STEPPED_DOWN]

    class ReferralSource(models.TextChoices):
        GP = "gp", "GP"
        AE_FREQUENT_ATTENDER = "ae_frequent_attender", "A&E frequent-attender list"
        SOCIAL_CARE = "social_care", "Social care"
        COMMUNITY_SERVICES = "community_services", "Community services"
        MENTAL_HEALTH_SERVICES = "mental_health_services", "Mental health services"
        VOLUNTARY_SECTOR = "voluntary_sector", "Voluntary sector"
        CASE_FINDING = "case_finding", "Risk-stratification case finding"
        SELF_OR_FAMILY = "self_or_family", "Self or family"

    class NotAcceptedReason(models.TextChoices):
        NEEDS_MET_ELSEWHERE = "needs_met_elsewhere", "Needs already met by another service"
        DOES_NOT_MEET_CRITERIA = "does_not_meet_criteria", "Does not meet the INT's criteria"
        DECLINED = "declined", "Resident declined"
        OUT_OF_AREA = "out_of_area", "Outside the neighbourhood"
        OTHER = "other", "Other"

    class ConsentMethod(models.TextChoices):
        IN_PERSON = "in_person", "In person"
        TELEPHONE = "telephone", "By telephone"
        WRITTEN = "written", "In writing"
        BEST_INTEREST = "best_interest", "Best-interest decision"

    class StepDownOutcome(models.TextChoices):
        GOALS_MET = "goals_met", "Goals met"
        PARTLY_MET = "partly_met", "Goals partly met"
        TRANSFERRED = "transferred", "Transferred to another service"
        DISENGAGED = "disengaged", "Resident disengaged"
        DIED = "died", "Resident died"
        MOVED_AWAY = "moved_away", "Moved away"

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="residents")
    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="residents")
    # Emptied, with the name, date of birth and free text, when the record is retired.
    nhs_number = models.CharField("NHS number", max_length=10, validators=[validate_nhs_number])
    given_name = models.CharField(max_length=100)
    family_name = models.CharField(max_length=100)
    # Kept by the database so the trigram index can serve name searches.
    search_name = models.GeneratedField(
        expression=Concat("given_name", Value(" "), "family_name"),
        output_field=models.TextField(),
        db_persist=True,
    )
    # Required by every form; empty only once the record is retired (see `retire`).
    date_of_birth = models.DateField(null=True)

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.REFERRED)
    referral_date = models.DateField()
    referral_source = models.CharField(max_length=30, choices=ReferralSource.choices)
    referral_reason = models.TextField()
    referrer = models.CharField(max_length=160, help_text="Who referred: name and service.")
    referred_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )

    triaged_on = models.DateField(null=True, blank=True)
    triaged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    not_accepted_reason = models.CharField(max_length=30, choices=NotAcceptedReason.choices, blank=True)
    not_accepted_detail = models.TextField(blank=True)
    key_worker = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="key_worker_residents",
        null=True,
        blank=True,
    )

    intervention_start = models.DateField(null=True, blank=True)
    consent_date = models.DateField(null=True, blank=True)
    consent_recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    consent_method = models.CharField(max_length=20, choices=ConsentMethod.choices, blank=True)

    stepped_down_on = models.DateField(null=True, blank=True)
    step_down_outcome = models.CharField(max_length=20, choices=StepDownOutcome.choices, blank=True)
    feedback_score = models.PositiveSmallIntegerField(null=True, blank=True)
    feedback_comment = models.TextField(blank=True)
    closed_on = models.DateField(null=True, blank=True)

    # Restriction (UK GDPR article 18, or consent withdrawn): the record is kept and read by the
    # coordinator only, and leaves suggestions, agendas and case finding.
    restricted_at = models.DateTimeField(null=True, blank=True)
    restriction_reason = models.TextField(blank=True)
    restricted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    # Set when the retention period ended and the personal details were removed (caseload.records).
    retired_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    # The latest contact the layers above record for the resident (a case discussion, an action
    # update), through `record_contact`: this layer cannot read their tables. The journey's own
    # events are not copied here; `with_last_contact()` takes the later of the two.
    last_contact_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Bumped on every save through the app, so a second editor's stale form is refused.
    version = models.PositiveIntegerField(default=1)

    objects = ResidentQuerySet.as_manager()

    class Meta:
        ordering = ["family_name", "given_name"]
        indexes = [
            models.Index(fields=["team", "status"], name="resident_team_status"),
            models.Index(fields=["nhs_number"], name="resident_nhs_number"),
            GinIndex(fields=["search_name"], opclasses=["gin_trgm_ops"], name="resident_search_name_trgm"),
            models.Index(fields=["team", "family_name", "given_name"], name="resident_team_name"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["nhs_number"],
                condition=Q(status__in=["referred", "accepted", "active", "stepped_down"]),
                name="resident_one_open_episode_per_nhs_number",
                violation_error_message="This resident already has an open referral.",
            ),
            models.CheckConstraint(
                condition=Q(nhs_number__regex=r"^[0-9]{10}$") | Q(retired_at__isnull=False, nhs_number=""),
                name="resident_nhs_number_ten_digits_until_retired",
            ),
            models.CheckConstraint(
                condition=Q(date_of_birth__isnull=False) | Q(retired_at__isnull=False),
                name="resident_date_of_birth_until_retired",
            ),
            models.CheckConstraint(
                condition=Q(restricted_at__isnull=True) | ~Q(restriction_reason=""),
                name="resident_restriction_has_reason",
            ),
            models.CheckConstraint(
                condition=Q(feedback_score__isnull=True) | Q(feedback_score__gte=1, feedback_score__lte=5),
                name="resident_feedback_one_to_five",
            ),
            models.CheckConstraint(
                condition=~Q(status="active") | Q(intervention_start__isnull=False, key_worker__isnull=False),
                name="resident_active_has_start_and_key_worker",
            ),
            # The forms also refuse the future; the database holds the fixed bounds (int_app/teams/dates.py).
            dates.DATE_OF_BIRTH.constraint("date_of_birth", name="resident_date_of_birth_in_range", nullable=True),
            dates.REFERRAL_DATE.constraint("referral_date", name="resident_referral_date_in_range"),
            dates.TRIAGE_DATE.constraint("triaged_on", name="resident_triaged_on_in_range", nullable=True),
            dates.INTERVENTION_START.constraint("intervention_start", name="resident_intervention_start_in_range", nullable=True),
            dates.CONSENT_DATE.constraint("consent_date", name="resident_consent_date_in_range", nullable=True),
            dates.STEP_DOWN_DATE.constraint("stepped_down_on", name="resident_stepped_down_on_in_range", nullable=True),
            dates.CLOSING_DATE.constraint("closed_on", name="resident_closed_on_in_range", nullable=True),
        ]

    def __str__(self) -> str:
        return self.full_name

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("caseload:resident", args=[self.team.slug, self.pk])

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def formatted_nhs_number(self) -> str:
        if not self.nhs_number:
            return "removed"
        return f"{self.nhs_number[:3]} {self.nhs_number[3:6]} {self.nhs_number[6:]}"

    @property
    def age(self) -> int | None:
        today = timezone.localdate()
        born = self.date_of_birth
        if born is None:
            return None
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))

    @property
    def is_restricted(self) -> bool:
        return self.restricted_at is not None

    @property
    def is_retired(self) -> bool:
        return self.retired_at is not None

    @property
    def retention_ends_on(self) -> datetime.date | None:
        """The day the record is retired, once closed: INT_RETENTION_YEARS after closure."""
        if self.closed_on is None:
            return None
        return dates.years_from(self.closed_on, settings.INT_RETENTION_YEARS)

    def restrict(self, *, reason: str, by: User) -> None:
        """The resident objected or withdrew consent: keep the record, stop using it."""
        if self.is_retired:
            raise JourneyRefused("This record is retired: it holds no personal details to restrict.")
        if self.is_restricted:
            raise JourneyRefused(f"The record has been restricted since {timezone.localtime(self.restricted_at):%d %B %Y}.")
        if not reason.strip():
            raise JourneyRefused("Say why the record is restricted: the objection or the withdrawal of consent.")
        self._mark(
            {"restricted_at": timezone.now(), "restriction_reason": reason.strip(), "restricted_by": by},
            kind=ResidentEvent.Kind.RESTRICTED,
            by=by,
            detail=reason.strip(),
        )

    def lift_restriction(self, *, reason: str, by: User) -> None:
        if not self.is_restricted:
            raise JourneyRefused("The record is not restricted.")
        if not reason.strip():
            raise JourneyRefused("Say why the restriction is lifted.")
        self._mark(
            {"restricted_at": None, "restriction_reason": "", "restricted_by": None},
            kind=ResidentEvent.Kind.RESTRICTION_LIFTED,
            by=by,
            detail=reason.strip(),
        )

    @property
    def has_consent(self) -> bool:
        return self.consent_date is not None

    @property
    def is_open(self) -> bool:
        return self.status in Resident.Status.open_values()

    @property
    def needs_consent(self) -> bool:
        """Case pages warn while an open case has no consent to share across organisations."""
        return self.is_open and not self.has_consent

    @property
    def plan_is_editable(self) -> bool:
        return self.status in (Resident.Status.ACCEPTED, Resident.Status.ACTIVE)

    @property
    def status_colour(self) -> str:
        return {
            Resident.Status.REFERRED: "blue",
            Resident.Status.ACCEPTED: "aqua-green",
            Resident.Status.NOT_ACCEPTED: "grey",
            Resident.Status.ACTIVE: "green",
            Resident.Status.STEPPED_DOWN: "purple",
            Resident.Status.CLOSED: "grey",
        }[self.status]

    def service_use_by_month(self) -> ServiceUseMonths:
        """Contacts with services per month and kind, for the 12 months before the intervention
        start and the 12 from it (from the referral while the intervention has not started)."""
        anchor_day = self.intervention_start or self.referral_date
        anchor = anchor_day.replace(day=1)
        first, end = add_months(anchor, -12), add_months(anchor, 12)
        counts = (
            self.service_use.filter(date__gte=first, date__lt=end)
            .annotate(month=TruncMonth("date"))
            .order_by()
            .values_list("month", "kind")
            .annotate(n=Count("*"))
        )
        return ServiceUseMonths(
            anchor=anchor,
            from_intervention=self.intervention_start is not None,
            counts={(month, kind): n for month, kind, n in counts},
        )

    # --- the journey: each move checks it is allowed, records who and when, and adds history ---

    def accept(self, *, key_worker: User, by: User, on: datetime.date | None = None) -> None:
        on = on or timezone.localdate()
        self._refuse_unless(Resident.Status.REFERRED, "accepted")
        self._refuse_if_before(on, self.referral_date, "The triage date", "the referral date")
        if not self.team.key_workers().filter(user=key_worker).exists():
            raise JourneyRefused(
                f"{key_worker} is not a key worker in {self.team}: choose one of the team's key workers."
            )
        self._move(
            {"status": Resident.Status.ACCEPTED, "triaged_on": on, "triaged_by": by, "key_worker": key_worker},
            kind=ResidentEvent.Kind.ACCEPTED,
            on=on,
            by=by,
            detail=f"Key worker: {key_worker}.",
        )

    def not_accept(self, *, reason: str, detail: str = "", by: User, on: datetime.date | None = None) -> None:
        on = on or timezone.localdate()
        self._refuse_unless(Resident.Status.REFERRED, "marked as not accepted")
        self._refuse_if_before(on, self.referral_date, "The triage date", "the referral date")
        if reason not in Resident.NotAcceptedReason.values:
            raise JourneyRefused("Choose a reason from the list.")
        if reason == Resident.NotAcceptedReason.OTHER and not detail.strip():
            raise JourneyRefused("Say why the referral was not accepted.")
        label = Resident.NotAcceptedReason(reason).label
        self._move(
            {
                "status": Resident.Status.NOT_ACCEPTED,
                "triaged_on": on,
                "triaged_by": by,
                "not_accepted_reason": reason,
                "not_accepted_detail": detail.strip(),
            },
            kind=ResidentEvent.Kind.NOT_ACCEPTED,
            on=on,
            by=by,
            detail=f"{label}. {detail.strip()}".strip(),
        )

    def start_intervention(self, *, on: datetime.date, by: User) -> None:
        self._refuse_unless(Resident.Status.ACCEPTED, "started")
        self._refuse_if_before(on, self.triaged_on or self.referral_date, "The start date", "the triage date")
        self._move(
            {"status": Resident.Status.ACTIVE, "intervention_start": on},
            kind=ResidentEvent.Kind.INTERVENTION_STARTED,
            on=on,
            by=by,
        )

    def record_consent(self, *, on: datetime.date, method: str, by: User) -> None:
        if self.status not in (Resident.Status.REFERRED, Resident.Status.ACCEPTED, Resident.Status.ACTIVE):
            raise JourneyRefused(
                f"{self.full_name} is {self.get_status_display().lower()}: consent is recorded while the case is open."
            )
        if self.has_consent:
            raise JourneyRefused(f"Consent was already recorded on {self.consent_date:%d %B %Y}.")
        if method not in Resident.ConsentMethod.values:
            raise JourneyRefused("Choose how consent was obtained.")
        self._refuse_if_before(on, self.referral_date, "The consent date", "the referral date")
        self._move(
            {"consent_date": on, "consent_method": method, "consent_recorded_by": by},
            kind=ResidentEvent.Kind.CONSENT_RECORDED,
            on=on,
            by=by,
            detail=f"{Resident.ConsentMethod(method).label}.",
        )

    def step_down(
        self,
        *,
        on: datetime.date,
        outcome: str,
        by: User,
        feedback_score: int | None = None,
        feedback_comment: str = "",
    ) -> None:
        self._refuse_unless(Resident.Status.ACTIVE, "stepped down")
        self._refuse_if_before(on, self.intervention_start, "The step-down date", "the intervention start")
        if outcome not in Resident.StepDownOutcome.values:
            raise JourneyRefused("Choose the outcome from the list.")
        if feedback_score is not None and not 1 <= feedback_score <= 5:
            raise JourneyRefused("Feedback is a score from 1 to 5.")
        label = Resident.StepDownOutcome(outcome).label
        self._move(
            {
                "status": Resident.Status.STEPPED_DOWN,
                "stepped_down_on": on,
                "step_down_outcome": outcome,
                "feedback_score": feedback_score,
                "feedback_comment": feedback_comment.strip(),
            },
            kind=ResidentEvent.Kind.STEPPED_DOWN,
            on=on,
            by=by,
            detail=f"{label}." + (f" Feedback {feedback_score} out of 5." if feedback_score else ""),
        )

    def close(self, *, on: datetime.date, by: User) -> None:
        self._refuse_unless(Resident.Status.STEPPED_DOWN, "closed")
        self._refuse_if_before(on, self.stepped_down_on, "The closing date", "the step-down date")
        self._move({"status": Resident.Status.CLOSED, "closed_on": on}, kind=ResidentEvent.Kind.CLOSED, on=on, by=by)

    def add_goal(self, *, text: str, by: User) -> Goal:
        self._refuse_unless_plan_editable()
        if not text.strip():
            raise JourneyRefused("Describe the goal.")
        with transaction.atomic():
            goal = Goal.objects.create(resident=self, text=text.strip(), created_by=by)
            self._note(ResidentEvent.Kind.GOAL_ADDED, by=by, detail=goal.text)
        return goal

    def choose_interventions(self, interventions: Iterable[Intervention], *, by: User) -> tuple[list, list]:
        """Make the support plan's interventions exactly these; returns (added, removed)."""
        self._refuse_unless_plan_editable()
        wanted = {intervention.pk: intervention for intervention in interventions}
        if any(intervention.team_id != self.team_id for intervention in wanted.values()):
            raise JourneyRefused("Choose interventions from your team's directory.")
        with transaction.atomic():
            current = {p.intervention_id: p for p in self.planned_interventions.select_related("intervention")}
            added = [wanted[pk] for pk in wanted.keys() - current.keys()]
            removed = [current[pk].intervention for pk in current.keys() - wanted.keys()]
            PlannedIntervention.objects.bulk_create(
                [PlannedIntervention(resident=self, intervention=i, chosen_by=by) for i in added]
            )
            self.planned_interventions.filter(intervention__in=[i.pk for i in removed]).delete()
            if added or removed:
                parts = []
                if added:
                    parts.append("Added " + ", ".join(sorted(i.name for i in added)) + ".")
                if removed:
                    parts.append("Removed " + ", ".join(sorted(i.name for i in removed)) + ".")
                self._note(ResidentEvent.Kind.PLAN_INTERVENTIONS_CHANGED, by=by, detail=" ".join(parts))
        return added, removed

    def _refuse_unless(self, status: str, verb: str) -> None:
        if self.status != status:
            raise JourneyRefused(
                f"{self.full_name} is {self.get_status_display().lower()}, so they cannot be {verb}. "
                f"Only a resident who is {Resident.Status(status).label.lower()} can be."
            )

    def _refuse_unless_plan_editable(self) -> None:
        self._refuse_if_restricted()
        if not self.plan_is_editable:
            raise JourneyRefused(
                f"{self.full_name} is {self.get_status_display().lower()}: the support plan is kept while "
                "the case is accepted or active."
            )

    @staticmethod
    def _refuse_if_before(on: datetime.date, earliest: datetime.date | None, what: str, than: str) -> None:
        if on > timezone.localdate():
            raise JourneyRefused(f"{what} cannot be in the future.")
        if earliest is not None and on < earliest:
            raise JourneyRefused(f"{what} cannot be before {than} ({earliest:%d %B %Y}).")

    def _mark(self, changes: dict, *, kind: str, by: User, detail: str) -> None:
        """Restrict or lift: like `_move`, refused if someone saved the record since it was read."""
        now = timezone.now()
        with transaction.atomic():
            updated = Resident.objects.filter(pk=self.pk, version=self.version).update(
                **changes, version=F("version") + 1, updated_at=now
            )
            if not updated:
                raise StaleRecord(
                    f"Someone else changed {self.full_name}'s record while you were working on it. "
                    "Nothing was saved: reload the page, check their changes and try again."
                )
            ResidentEvent.objects.create(resident=self, kind=kind, occurred_at=now, by=by, detail=detail)
        for name, value in changes.items():
            setattr(self, name, value)
        self.version += 1
        self.updated_at = now

    def _refuse_if_restricted(self) -> None:
        if self.is_restricted:
            raise JourneyRefused(
                f"{self.full_name}'s record is restricted ({self.restriction_reason}): it is kept but not "
                "changed until the restriction is lifted."
            )

    def _move(self, changes: dict, *, kind: str, on: datetime.date, by: User, detail: str = "") -> None:
        """Save the changes only if nobody else has saved since this copy was read."""
        self._refuse_if_restricted()
        now = timezone.now()
        with transaction.atomic():
            updated = Resident.objects.filter(pk=self.pk, version=self.version, status=self.status).update(
                **changes, version=F("version") + 1, updated_at=now
            )
            if not updated:
                raise StaleRecord(
                    f"Someone else changed {self.full_name}'s record while you were working on it. "
                    "Nothing was saved: reload the page, check their changes and try again."
                )
            ResidentEvent.objects.create(
                resident=self, kind=kind, occurred_at=ResidentEvent.moment_on(on, now), by=by, detail=detail
            )
        for name, value in changes.items():
            setattr(self, name, value)
        self.version += 1
        self.updated_at = now

    def _note(self, kind: str, *, by: User, detail: str = "") -> None:
        ResidentEvent.objects.create(resident=self, kind=kind, occurred_at=timezone.now(), by=by, detail=detail)


def key_worker_caseloads(team: Team) -> models.QuerySet[User]:
    """The team's key workers, each with their role and organisation in the team and how many of
    the team's residents they hold: `active_count` (active) and `accepted_count` (awaiting start)."""
    memberships = team.key_workers().filter(user=OuterRef("pk"))
    held = Q(key_worker_residents__team=team)
    return (
        User.objects.filter(pk__in=team.key_workers().values("user"))
        .annotate(
            key_worker_role=Subquery(memberships.values("role")[:1]),
            key_worker_organisation=Subquery(memberships.values("organisation__name")[:1]),
            active_count=Count("key_worker_residents", filter=held & Q(key_worker_residents__status=Resident.Status.ACTIVE)),
            accepted_count=Count("key_worker_residents", filter=held & Q(key_worker_residents__status=Resident.Status.ACCEPTED)),
        )
        .order_by("full_name")
    )


def retention_cutoff(today: datetime.date | None = None) -> datetime.date:
    """A record closed on or before this day has been kept its full retention period by `today`."""
    return dates.years_from(today or timezone.localdate(), -settings.INT_RETENTION_YEARS)


def one_month_after(day: datetime.date) -> datetime.date:
    """The same day next month, or that month's last day when it is shorter (31 January gives 28
    or 29 February): the ICO's "one calendar month" to answer a subject access request."""
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    last_day = calendar.monthrange(year, month)[1]
    return datetime.date(year, month, min(day.day, last_day))


def add_months(day: datetime.date, months: int) -> datetime.date:
    """The first of the month `months` after (or before) the first of day's month; held to the
    calendar's first and last months, so a page never fails on a date stored at its edge."""
    index = day.year * 12 + day.month - 1 + months
    first, last = datetime.MINYEAR * 12, datetime.MAXYEAR * 12 + 11
    index = min(max(index, first), last)
    return datetime.date(index // 12, index % 12 + 1, 1)


@dataclass
class ServiceUseMonths:
    """A resident's service use by month and kind over 24 months, in the chart's and the table's
    shape (both are drawn from it, so they always show the same numbers)."""

    anchor: datetime.date
    from_intervention: bool
    counts: dict[tuple[datetime.date, str], int]

    @property
    def months(self) -> list[datetime.date]:
        return [add_months(self.anchor, offset) for offset in range(-12, 12)]

    @property
    def kinds(self) -> list[ServiceUseEvent.Kind]:
        """The kinds that occur, in the standard order."""
        present = {kind for _month, kind in self.counts}
        return [kind for kind in ServiceUseEvent.Kind if kind.value in present]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def rows(self) -> list[dict]:
        kinds = self.kinds
        return [
            {
                "month": month,
                "after": month >= self.anchor,
                "counts": [self.counts.get((month, kind.value), 0) for kind in kinds],
                "total": sum(self.counts.get((month, kind.value), 0) for kind in kinds),
            }
            for month in self.months
        ]

    def before_and_after(self) -> list[dict]:
        summary = []
        for kind in self.kinds:
            before = sum(n for (month, k), n in self.counts.items() if k == kind.value and month < self.anchor)
            after = sum(n for (month, k), n in self.counts.items() if k == kind.value and month >= self.anchor)
            summary.append({"kind": kind.label, "before": before, "after": after})
        return summary

    def chart_data(self) -> dict:
        """What static/js/caseload_chart.mjs draws, passed through json_script."""
        return {
            "months": [f"{month:%b %Y}" for month in self.months],
            "anchor_index": 12,
            "anchor_label": "Intervention start" if self.from_intervention else "Referral",
            "series": [
                {
                    "kind": kind.value,
                    "label": kind.label,
                    "counts": [self.counts.get((month, kind.value), 0) for month in self.months],
                }
                for kind in self.kinds
            ],
        }


class ResidentEventQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> ResidentEventQuerySet:
        """A resident's journey is seen by whoever sees the resident."""
        return self.filter(resident__in=Resident.objects.visible_to(user, right))


class ResidentEvent(models.Model):
    """One step of a resident's journey, for the timeline and for "last contact"."""

    class Kind(models.TextChoices):
        REFERRED = "referred", "Referred"
        ACCEPTED = "accepted", "Accepted at triage"
        NOT_ACCEPTED = "not_accepted", "Not accepted at triage"
        INTERVENTION_STARTED = "intervention_started", "Intervention started"
        CONSENT_RECORDED = "consent_recorded", "Consent to share recorded"
        GOAL_ADDED = "goal_added", "Goal added to the support plan"
        GOAL_UPDATED = "goal_updated", "Goal updated"
        PLAN_INTERVENTIONS_CHANGED = "plan_interventions_changed", "Support plan interventions changed"
        STEPPED_DOWN = "stepped_down", "Stepped down"
        CLOSED = "closed", "Closed"
        RESTRICTED = "restricted", "Record restricted"
        RESTRICTION_LIFTED = "restriction_lifted", "Restriction lifted"
        RETIRED = "retired", "Retention period ended: personal details removed"

    # Indexed with occurred_at below, which also serves the foreign key.
    resident = models.ForeignKey(Resident, on_delete=models.CASCADE, related_name="events", db_index=False)
    kind = models.CharField(max_length=40, choices=Kind.choices)
    # When it happened (a triage backdated to last week's meeting happened last week) ...
    occurred_at = models.DateTimeField()
    # ... and when it was written down, by whom.
    recorded_at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    detail = models.TextField(blank=True)

    objects = ResidentEventQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-recorded_at"]
        indexes = [models.Index(fields=["resident", "occurred_at"], name="resident_event_when")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.occurred_at:%Y-%m-%d})"

    @staticmethod
    def moment_on(day: datetime.date, now: datetime.datetime) -> datetime.datetime:
        """Today's events keep the time they were recorded; a past date is taken as midday."""
        if day == timezone.localdate(now):
            return now
        return timezone.make_aware(datetime.datetime.combine(day, datetime.time(12)))


class InterventionQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> InterventionQuerySet:
        """Every case role of the team reads the directory; the neighbourhood expert keeps it.
        With `right`, only the directories of the teams where the user's role also carries it."""
        teams = Team.objects.with_right(user, Right.VIEW_CASES)
        if right is not None:
            teams = teams.filter(pk__in=Team.objects.with_right(user, right))
        return self.filter(team__in=teams)


class Intervention(models.Model):
    """An entry in the team's directory of what is on offer locally."""

    class Category(models.TextChoices):
        SOCIAL = "social", "Social"
        HEALTH = "health", "Health"
        HOUSING = "housing", "Housing"
        FINANCIAL = "financial", "Financial"
        CARERS = "carers", "Carers"
        ACTIVITY = "activity", "Activity"
        MENTAL_WELLBEING = "mental_wellbeing", "Mental wellbeing"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="interventions")
    name = models.CharField(max_length=160)
    provider = models.CharField("Provider organisation", max_length=160)
    category = models.CharField(max_length=30, choices=Category.choices)
    contact = models.CharField(max_length=200, help_text="Telephone, email or web address, and who to ask for.")
    eligibility = models.TextField("Eligibility notes", blank=True)
    is_active = models.BooleanField("Currently on offer", default=True)

    objects = InterventionQuerySet.as_manager()

    class Meta:
        ordering = ["category", "name"]
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="intervention_unique_name_in_team"),
            models.CheckConstraint(
                condition=Q(category__in=["social", "health", "housing", "financial", "carers", "activity", "mental_wellbeing"]),
                name="intervention_category_known",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("caseload:intervention_edit", args=[self.team.slug, self.pk])


class GoalQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> GoalQuerySet:
        return self.filter(resident__in=Resident.objects.visible_to(user, right))


class Goal(models.Model):
    """A goal in a resident's support plan, in the resident's own words where possible."""

    class Status(models.TextChoices):
        NOT_STARTED = "not_started", "Not started"
        IN_PROGRESS = "in_progress", "In progress"
        ACHIEVED = "achieved", "Achieved"
        NOT_ACHIEVED = "not_achieved", "Not achieved"

    resident = models.ForeignKey(Resident, on_delete=models.CASCADE, related_name="goals")
    text = models.TextField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NOT_STARTED)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = GoalQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["not_started", "in_progress", "achieved", "not_achieved"]),
                name="goal_status_known",
            )
        ]

    def __str__(self) -> str:
        return self.text

    @property
    def status_colour(self) -> str:
        return {"not_started": "grey", "in_progress": "blue", "achieved": "green", "not_achieved": "orange"}[
            self.status
        ]

    def set_status(self, status: str, *, by: User) -> None:
        self.resident._refuse_unless_plan_editable()
        if status not in Goal.Status.values:
            raise JourneyRefused("Choose the goal's status from the list.")
        if status == self.status:
            return
        with transaction.atomic():
            self.status = status
            self.save(update_fields=["status", "updated_at"])
            self.resident._note(
                ResidentEvent.Kind.GOAL_UPDATED, by=by, detail=f"{self.text} – now {self.get_status_display().lower()}."
            )


class PlannedInterventionQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> PlannedInterventionQuerySet:
        return self.filter(resident__in=Resident.objects.visible_to(user, right))


class PlannedIntervention(models.Model):
    """An intervention from the directory chosen for a resident's support plan."""

    resident = models.ForeignKey(Resident, on_delete=models.CASCADE, related_name="planned_interventions")
    intervention = models.ForeignKey(Intervention, on_delete=models.PROTECT, related_name="+")
    chosen_at = models.DateTimeField(default=timezone.now)
    chosen_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True)

    objects = PlannedInterventionQuerySet.as_manager()

    class Meta:
        ordering = ["intervention__name"]
        constraints = [
            models.UniqueConstraint(fields=["resident", "intervention"], name="planned_intervention_once_per_resident")
        ]

    def __str__(self) -> str:
        return f"{self.intervention} for {self.resident}"


class ServiceUseEventQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> ServiceUseEventQuerySet:
        return self.filter(resident__in=Resident.objects.visible_to(user, right))


class ServiceUseEvent(models.Model):
    """A contact of a resident with a health or care service, from another system's extract.

    (source, source_id) names the record in that system, so loading an extract twice counts
    nothing twice."""

    class Kind(models.TextChoices):
        PRIMARY_CARE_APPOINTMENT = "primary_care_appointment", "Primary care appointment"
        AE_ATTENDANCE = "ae_attendance", "A&E attendance"
        EMERGENCY_ADMISSION = "emergency_admission", "Emergency admission"
        AMBULANCE_CALLOUT = "ambulance_callout", "Ambulance call-out"
        NHS_111_CALL = "nhs_111_call", "NHS 111 call"
        SOCIAL_CARE_CONTACT = "social_care_contact", "Social care contact"
        COMMUNITY_HEALTH_CONTACT = "community_health_contact", "Community health contact"
        MENTAL_HEALTH_CONTACT = "mental_health_contact", "Mental health contact"

    # No index of its own: the (resident, date) index below serves the foreign key too, and one
    # index fewer to keep up makes a large import faster. No constraint in the database either:
    # it checked each imported row against the resident one at a time, the largest part of an
    # import's time, for residents the import has just matched and that are never deleted (ADR 0025).
    resident = models.ForeignKey(
        Resident, on_delete=models.CASCADE, related_name="service_use", db_index=False, db_constraint=False
    )
    date = models.DateField()
    kind = models.CharField(max_length=30, choices=Kind.choices)
    # Codes, not words: byte order ("C") compares them several times faster than a language's
    # collation, which matters for the unique index every imported row is checked against.
    source = models.CharField(max_length=60, db_collation="C", help_text="The system the extract came from.")
    source_id = models.CharField(max_length=100, db_collation="C", help_text="The record's id in that system.")

    objects = ServiceUseEventQuerySet.as_manager()

    class Meta:
        ordering = ["-date", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["source", "source_id"], name="service_use_unique_source_record"),
            dates.SERVICE_USE_DATE.constraint("date", name="service_use_date_in_range"),
        ]
        indexes = [
            # The resident page's chart reads counts by month and kind from the index alone.
            models.Index(fields=["resident", "date"], include=["kind"], name="service_use_resident_date"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.date:%Y-%m-%d}"


class ImportJobQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> ImportJobQuerySet:
        """An import exists for members of the teams it loaded into; with `right`, for those
        whose role in one of those teams carries it."""
        return self.filter(teams__in=Team.objects.visible_to(user, right)).distinct()


class UploadedFile:
    """What an import's row (ImportJob, PopulationExtract) says of its file and its progress: the
    file waits under INT_IMPORT_DIR as `stored_as` until the import ends."""

    def __str__(self) -> str:
        return f"{self.file_name} ({self.get_status_display()})"

    @property
    def stored_path(self) -> Path | None:
        return Path(settings.INT_IMPORT_DIR) / self.stored_as if self.stored_as else None

    @property
    def is_finished(self) -> bool:
        return self.status in self.Status.finished_values()

    @property
    def percent_checked(self) -> int:
        return min(100, int(100 * self.rows_checked / self.rows_total)) if self.rows_total else 0


class ImportJob(UploadedFile, models.Model):
    """One upload of a service-use extract: the file, then what checking and loading it found."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting to start"
        CHECKING = "checking", "Checking every row"
        LOADING = "loading", "Loading"
        DONE = "done", "Loaded"
        REFUSED = "refused", "Not loaded: the file has errors"
        FAILED = "failed", "Not loaded: something went wrong"

        @classmethod
        def finished_values(cls) -> list[str]:
            return [cls.DONE, cls.REFUSED, cls.FAILED]

    teams = models.ManyToManyField(Team, related_name="import_jobs", help_text="Residents are matched within these teams.")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    file_name = models.CharField(max_length=255)
    # The uploaded file's name under INT_IMPORT_DIR while it waits to be checked and loaded;
    # emptied, and the file deleted, once the job finishes (docs/adr/0010-imports-streamed.md).
    stored_as = models.CharField(max_length=100, blank=True)
    # SHA-256 of the file as uploaded: the audit trail says exactly which file was loaded.
    checksum = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    rows_total = models.PositiveIntegerField(default=0)
    rows_checked = models.PositiveIntegerField(default=0)
    rows_loaded = models.PositiveIntegerField(default=0)
    rows_already_loaded = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="The first errors found, by line.")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ImportJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]


    @property
    def more_errors(self) -> int:
        return max(0, self.error_count - len(self.errors))


class InstalledAs(pgtrigger.Protect):
    """A Protect trigger that keeps the Postgres name it was installed under. pgtrigger names a
    trigger after its model's app ("audit.ResidentAccess"); a model moved to another app would
    otherwise need its trigger dropped and created again, leaving a moment with no protection."""

    def __init__(self, pgid: str, **kwargs) -> None:
        self.pgid = pgid
        super().__init__(**kwargs)

    def get_pgid(self, model: type[models.Model]) -> str:
        return self.pgid


class ResidentAccessQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> ResidentAccessQuerySet:
        """Who opened a record is the team's business: its members, or with `right` those whose
        role in the resident's team carries it."""
        teams = Team.objects.visible_to(user, right)
        return self.filter(Q(resident__team__in=teams) | Q(resident__isnull=True, extract__team__in=teams))

    def for_resident(self, resident_id: int) -> ResidentAccessQuerySet:
        return self.filter(resident_id=resident_id).select_related("user").order_by("-at")


class ResidentAccess(models.Model):
    """Someone opened a resident's record, or exported a list holding it (caseload.access records
    it). Append-only: a trigger refuses UPDATE and DELETE, so nobody can rewrite who looked."""

    class Page(models.TextChoices):
        RESIDENT = "resident", "Resident page"
        EXPORT = "export", "Export"
        INFORMATION_PACK = "information_pack", "Agenda information pack"
        OUTCOME_SUMMARY = "outcome_summary", "Outcome summary"
        OUTCOME_SUMMARY_SENT = "outcome_summary_sent", "Outcome summary sent to the GP practice"
        SUBJECT_ACCESS = "subject_access", "Subject access bundle"
        RECORDS = "records", "Records page (requests, restrictions, retention)"
        CASE_FINDING = "case_finding", "Case finding"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    # A resident's record, or (with no resident) a person of the team's population extract, who is
    # named by NHS number alone: case finding lists people before anyone has referred them.
    resident = models.ForeignKey(
        Resident, on_delete=models.DO_NOTHING, db_constraint=False, related_name="accesses", null=True, blank=True
    )
    # The version of the extract the person was shown from: its team is whose business the row is.
    extract = models.ForeignKey(
        "PopulationExtract", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", null=True, blank=True
    )
    nhs_number = models.CharField(max_length=10, blank=True)
    page = models.CharField(max_length=30, choices=Page.choices)
    path = models.CharField(max_length=300)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    request_id = models.CharField(max_length=64, blank=True)

    objects = ResidentAccessQuerySet.as_manager()

    class Meta:
        ordering = ["-at"]
        indexes = [
            models.Index(fields=["resident", "at"], name="resident_access_when"),
            models.Index(fields=["nhs_number", "at"], condition=Q(resident__isnull=True), name="resident_access_extract_person"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(resident__isnull=False) | (Q(extract__isnull=False) & Q(nhs_number__regex=r"^[0-9]{10}$")),
                name="resident_access_names_someone",
            )
        ]
        # The table was created by the audit app and moved here without touching it (caseload
        # migration 0006): it keeps its name, and its trigger keeps the name it was installed under.
        db_table = "audit_residentaccess"
        triggers = [
            InstalledAs(
                "pgtrigger_append_only_83ff2", name="append_only", operation=pgtrigger.Update | pgtrigger.Delete
            ),
        ]

    def __str__(self) -> str:
        whom = f"resident {self.resident_id}" if self.resident_id else f"extract person {self.nhs_number}"
        return f"{self.user_id} opened {whom} ({self.page}) at {self.at:%Y-%m-%d %H:%M}"


class SubjectAccessRequestQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> SubjectAccessRequestQuerySet:
        """A request is the team's business, as its access log is: its members, or with `right`
        those whose role in the resident's team carries it (the pages ask MANAGE_RECORDS)."""
        return self.filter(resident__team__in=Team.objects.visible_to(user, right))

    def unanswered(self) -> SubjectAccessRequestQuerySet:
        return self.filter(answered_on__isnull=True)


class SubjectAccessRequest(models.Model):
    """A resident asked for everything held about them. The answer is due one calendar month after
    the request was received (it may be extended by two months for a complex request, which the
    coordinator records by changing the deadline in the admin)."""

    resident = models.ForeignKey(Resident, on_delete=models.PROTECT, related_name="subject_access_requests")
    received_on = models.DateField()
    deadline = models.DateField()
    received_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    answered_on = models.DateField(null=True, blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    # The bundle is drawn by a Celery task (a resident with years of contacts takes longer than a
    # request may) and kept here, zipped, until the request is answered or the record retired.
    bundle_requested_at = models.DateTimeField(null=True, blank=True)
    bundle_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    bundle = models.BinaryField(null=True, blank=True, editable=False)
    last_produced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = SubjectAccessRequestQuerySet.as_manager()

    class Meta:
        ordering = ["deadline", "pk"]
        constraints = [
            dates.SUBJECT_ACCESS_DATE.constraint("received_on", name="subject_access_received_on_in_range"),
            models.CheckConstraint(condition=Q(deadline__gte=F("received_on")), name="subject_access_deadline_after_receipt"),
            models.CheckConstraint(
                condition=Q(answered_on__isnull=True) | Q(answered_on__gte=F("received_on"), answered_by__isnull=False),
                name="subject_access_answered_after_receipt",
            ),
        ]

    def __str__(self) -> str:
        return f"Subject access request of {self.received_on:%d %b %Y}"

    @classmethod
    def log(cls, *, resident: Resident, received_on: datetime.date, by: User) -> SubjectAccessRequest:
        problem = dates.SUBJECT_ACCESS_DATE.problem(received_on)
        if problem:
            raise JourneyRefused(f"{problem}.")
        return cls.objects.create(
            resident=resident, received_on=received_on, deadline=one_month_after(received_on), received_by=by
        )

    @property
    def bundle_ready(self) -> bool:
        """Produced since it was last asked for."""
        return self.last_produced_at is not None and (
            self.bundle_requested_at is None or self.last_produced_at >= self.bundle_requested_at
        )

    @property
    def bundle_in_progress(self) -> bool:
        return self.bundle_requested_at is not None and not self.bundle_ready

    @property
    def is_overdue(self) -> bool:
        return self.answered_on is None and self.deadline < timezone.localdate()

    def mark_answered(self, *, by: User, on: datetime.date | None = None) -> None:
        on = on or timezone.localdate()
        if self.answered_on is not None:
            raise JourneyRefused(f"This request was marked answered on {self.answered_on:%d %B %Y}.")
        if on < self.received_on:
            raise JourneyRefused("A request cannot be answered before it was received.")
        # Conditional: of two coordinators marking it at once, the second is told.
        # The copy of the record made for the answer is not kept once it has been given.
        updated = SubjectAccessRequest.objects.filter(pk=self.pk, answered_on__isnull=True).update(
            answered_on=on, answered_by=by, bundle=None
        )
        if not updated:
            raise JourneyRefused("Someone marked this request answered a moment ago.")
        self.answered_on, self.answered_by = on, by


# --- the population extract ----------------------------------------------------------------------


class PopulationExtractQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> PopulationExtractQuerySet:
        """An extract is its team's: members see it, or with `right` those whose role there carries it."""
        return self.filter(team__in=Team.objects.visible_to(user, right))

    def current(self) -> PopulationExtractQuerySet:
        return self.filter(is_current=True)


class PopulationExtract(UploadedFile, models.Model):
    """One upload of a team's population extract, and the version of the extract it becomes.

    The upload is checked and loaded as a whole (docs/adr/0019-population-extract.md): its people
    and monthly contacts are written under this extract, and only then, in the same transaction,
    does it become the team's current extract and the one before it stop being current. Rows of
    extracts that are no longer current are deleted afterwards."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting to start"
        CHECKING = "checking", "Checking every row"
        LOADING = "loading", "Loading"
        DONE = "done", "Loaded"
        REFUSED = "refused", "Not loaded: the file has errors"
        FAILED = "failed", "Not loaded: something went wrong"

        @classmethod
        def finished_values(cls) -> list[str]:
            return [cls.DONE, cls.REFUSED, cls.FAILED]

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="population_extracts")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    file_name = models.CharField(max_length=255)
    # The file under INT_IMPORT_DIR while it waits; emptied, and the file deleted, when the job ends.
    stored_as = models.CharField(max_length=100, blank=True)
    checksum = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    # The team's extract that case finding (and the KPIs' matched comparison) read: one per team.
    is_current = models.BooleanField(default=False)
    rows_total = models.PositiveIntegerField(default=0)
    rows_checked = models.PositiveIntegerField(default=0)
    rows_loaded = models.PositiveIntegerField(default=0)
    people = models.PositiveIntegerField(default=0)
    first_month = models.DateField(null=True, blank=True)
    last_month = models.DateField(null=True, blank=True)
    error_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="The first errors found, by line.")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = PopulationExtractQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["team"], condition=Q(is_current=True), name="population_extract_one_current_per_team"),
            models.CheckConstraint(condition=~Q(is_current=True) | Q(status="done"), name="population_extract_current_is_loaded"),
        ]


    @property
    def more_errors(self) -> int:
        return max(0, self.error_count - len(self.errors))

    @property
    def recent_from(self) -> datetime.date | None:
        """The first of the six months case finding calls recent: the extract's last six."""
        return add_months(self.last_month, -(RECENT_MONTHS - 1)) if self.last_month else None


# Kinds as small numbers in the extract's tables: the order of ServiceUseEvent.Kind, from 1.
KIND_NUMBERS: dict[str, int] = {kind: number for number, kind in enumerate(ServiceUseEvent.Kind.values, start=1)}
KIND_OF_NUMBER: dict[int, str] = {number: kind for kind, number in KIND_NUMBERS.items()}
EMERGENCY_KINDS: tuple[str, ...] = (
    ServiceUseEvent.Kind.AE_ATTENDANCE,
    ServiceUseEvent.Kind.EMERGENCY_ADMISSION,
    ServiceUseEvent.Kind.AMBULANCE_CALLOUT,
)
# Case finding's "recent": the extract's last six months, set against the six before them.
RECENT_MONTHS = 6
# A person's contacts are kept as two arrays (PopulationPerson.contact_slots and contact_counts):
# slot = month index * 8 + kind number - 1, the month index counted from EARLIEST_RECORD's month,
# the first an extract may hold. Fits a smallint until the year 2341.
CONTACT_MONTH_ZERO = dates.EARLIEST_RECORD
KINDS_A_MONTH = 8


def contact_slot(month: datetime.date, kind_number: int) -> int:
    """Where a month and kind is kept in a person's contact arrays."""
    return ((month.year - CONTACT_MONTH_ZERO.year) * 12 + month.month - CONTACT_MONTH_ZERO.month) * KINDS_A_MONTH + kind_number - 1


# The same in SQL, for the load that writes the arrays and the readers that take them apart.
def contact_slot_sql(month: str, kind_number: str) -> str:
    """contact_slot of a date (or timestamp) expression and a kind number expression."""
    months = f"(extract(year FROM {month})::int - {CONTACT_MONTH_ZERO.year}) * 12 + extract(month FROM {month})::int - {CONTACT_MONTH_ZERO.month}"
    return f"(({months}) * {KINDS_A_MONTH} + {kind_number} - 1)"


def contact_month_index_sql(slot: str) -> str:
    """The month a slot holds, counted as year * 12 + month - 1."""
    return f"({CONTACT_MONTH_ZERO.year * 12 + CONTACT_MONTH_ZERO.month - 1} + {slot} / {KINDS_A_MONTH})"


def contact_kind_sql(slot: str) -> str:
    """The kind number a slot holds."""
    return f"(mod({slot}, {KINDS_A_MONTH}) + 1)"


class PopulationPersonQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> PopulationPersonQuerySet:
        return self.filter(extract__team__in=Team.objects.visible_to(user, right))

    def not_on_a_caseload(self) -> PopulationPersonQuerySet:
        """People with no open episode in any team (whatever its access): a referral of one with
        an open episode would be refused, and their team already knows them. Nor anyone whose
        record is restricted, open or closed: they objected to the team using their information."""
        return self.exclude(nhs_number__in=Resident.objects.open().values("nhs_number")).exclude(
            nhs_number__in=Resident.objects.restricted().values("nhs_number")
        )

    def with_recent_use(self) -> PopulationPersonQuerySet:
        return self.filter(recent_total__gt=0)

    def born_between(self, first_year: int, last_year: int) -> PopulationPersonQuerySet:
        return self.filter(birth_year__gte=first_year, birth_year__lte=last_year)

    def with_recent(self, kind: str) -> PopulationPersonQuerySet:
        """People with a recent contact of this kind (recent_by_kind holds kind number n at n - 1)."""
        return self.filter(**{f"recent_by_kind__{KIND_NUMBERS[kind] - 1}__gt": 0})

    def ranked(self) -> PopulationPersonQuerySet:
        """Most recent emergency use first, then most recent use, then the steepest rise."""
        return self.order_by(
            "-recent_emergency", "-recent_total", (F("recent_total") - F("before_total")).desc(), "nhs_number"
        )


class PopulationPerson(models.Model):
    """A registered person in one version of the extract, with what case finding ranks by.

    The summary columns are written when the extract is loaded (its last six months against the
    six before), so the case-finding page sorts one row a person and never reads the contacts."""

    # No database constraint: it was checked row by row at the load's commit (a second a hundred
    # thousand people); the load writes the people of the extract it holds locked (ADR 0028).
    extract = models.ForeignKey(PopulationExtract, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    nhs_number = models.CharField(max_length=10, db_collation="C")
    practice = models.ForeignKey(Practice, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", db_index=False)
    birth_year = models.SmallIntegerField()
    sex = models.CharField(max_length=1)
    recent_emergency = models.IntegerField(default=0)
    recent_total = models.IntegerField(default=0)
    before_emergency = models.IntegerField(default=0)
    before_total = models.IntegerField(default=0)
    # Contacts in the recent six months by kind number (KIND_NUMBERS): index 0 is kind 1.
    recent_by_kind = ArrayField(models.IntegerField(), size=8, default=list)
    # Every month and kind with contacts, one element each (contact_slot), beside its count: the
    # person's whole extract in one row, written by the same pass that makes the summary
    # (docs/adr/0029-population-contacts-as-arrays-per-person.md). Read as rows through
    # PopulationContacts.
    contact_slots = ArrayField(models.SmallIntegerField(), default=list)
    contact_counts = ArrayField(models.SmallIntegerField(), default=list)

    objects = PopulationPersonQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["extract", "nhs_number"], name="population_person_once_per_extract"),
        ]
        indexes = [
            models.Index(
                "extract", F("recent_emergency").desc(), F("recent_total").desc(), name="population_person_ranked"
            ),
        ]

    def __str__(self) -> str:
        return self.nhs_number

    @property
    def formatted_nhs_number(self) -> str:
        return f"{self.nhs_number[:3]} {self.nhs_number[3:6]} {self.nhs_number[6:]}"


class PopulationContactsQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> PopulationContactsQuerySet:
        return self.filter(extract__team__in=Team.objects.visible_to(user, right))


class PopulationContacts(models.Model):
    """A person's contacts of one kind in one month, from one version of the extract: a row of a
    database view (migration 0017) that unnests each person's contact arrays, so readers that want
    rows (tests, the odd report) still have them. Read only; the load writes the arrays.

    Until migration 0017 this was a table partitioned by extract (ADR 0028); writing one row per
    person instead of one per person, month and kind is what made the load fast (ADR 0029)."""

    pk = models.CompositePrimaryKey("person", "month", "kind")
    person = models.ForeignKey(PopulationPerson, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", db_index=False)
    extract = models.ForeignKey(PopulationExtract, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", db_index=False)
    month = models.DateField()
    kind = models.SmallIntegerField()
    contacts = models.IntegerField()

    objects = PopulationContactsQuerySet.as_manager()

    class Meta:
        managed = False

    def __str__(self) -> str:
        return f"{self.person_id} {self.month:%Y-%m} {KIND_OF_NUMBER.get(self.kind, self.kind)}: {self.contacts}"
