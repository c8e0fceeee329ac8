from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from int_app.teams.models import Practice, Team
from int_app.teams.roles import CASE_ROLES

from .nhs_number import validate_nhs_number


class ResidentQuerySet(models.QuerySet):
    def visible_to(self, user) -> ResidentQuerySet:
        """The one place that decides who sees a resident: members of the resident's team who
        take part in case discussions. PCN leads see aggregates only, never a resident."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(
            team__memberships__user=user, team__memberships__role__in=CASE_ROLES
        )

    def open(self) -> ResidentQuerySet:
        return self.filter(status__in=Resident.Status.open_values())

    def active(self) -> ResidentQuerySet:
        return self.filter(status=Resident.Status.ACTIVE)


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
    nhs_number = models.CharField("NHS number", max_length=10, validators=[validate_nhs_number])
    given_name = models.CharField(max_length=100)
    family_name = models.CharField(max_length=100)
    date_of_birth = models.DateField()

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

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    # Bumped on every save through the app, so a second editor's stale form is refused.
    version = models.PositiveIntegerField(default=1)

    objects = ResidentQuerySet.as_manager()

    class Meta:
        ordering = ["family_name", "given_name"]
        indexes = [
            models.Index(fields=["team", "status"], name="resident_team_status"),
            models.Index(fields=["nhs_number"], name="resident_nhs_number"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["nhs_number"],
                condition=Q(status__in=["referred", "accepted", "active", "stepped_down"]),
                name="resident_one_open_episode_per_nhs_number",
                violation_error_message="This resident already has an open referral.",
            ),
            models.CheckConstraint(
                condition=Q(nhs_number__regex=r"^[0-9]{10}$"), name="resident_nhs_number_ten_digits"
            ),
            models.CheckConstraint(
                condition=Q(feedback_score__isnull=True) | Q(feedback_score__gte=1, feedback_score__lte=5),
                name="resident_feedback_one_to_five",
            ),
            models.CheckConstraint(
                condition=~Q(status="active") | Q(intervention_start__isnull=False, key_worker__isnull=False),
                name="resident_active_has_start_and_key_worker",
            ),
        ]

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def formatted_nhs_number(self) -> str:
        return f"{self.nhs_number[:3]} {self.nhs_number[3:6]} {self.nhs_number[6:]}"

    @property
    def has_consent(self) -> bool:
        return self.consent_date is not None
