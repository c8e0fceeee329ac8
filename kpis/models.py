from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from caseload.models import ServiceUseEvent
from int_app.teams.models import Team
from int_app.teams.roles import Right

# --- Service-use KPIs -------------------------------------------------------------------------
# The recompute (kpis/compute.py) writes these tables; the dashboard only reads KpiRun and
# KpiValue, never the service-use table.


class Cohort(models.TextChoices):
    INTERVENTION = "intervention", "Supported by the INT"
    # Referred but not accepted, or still waiting: their window starts at the referral date.
    COMPARATOR = "comparator", "Referred, not supported (comparator)"


class Level(models.TextChoices):
    TEAM = "team", "Team"
    PCN = "pcn", "PCN"
    NEIGHBOURHOOD = "neighbourhood", "Neighbourhood"
    PLACE = "place", "Place"


class Measure(models.TextChoices):
    SERVICE_USE = "service_use", "Contacts with services, before and after"
    IN_PROGRESS = "in_progress", "Residents whose follow-up has not ended"
    FEEDBACK = "feedback", "Resident feedback (mean of 1 to 5)"
    FEEDBACK_SCORE = "feedback_score", "Residents giving each feedback score"
    REFERRALS_PER_WEEK = "referrals_per_week", "Referrals per week"
    DAYS_TO_FIRST_DISCUSSION = "days_to_first_discussion", "Days from referral to first discussion (median)"
    CASELOAD_PER_KEY_WORKER = "caseload_per_key_worker", "Active residents per key worker"
    ACTIONS_ON_TIME = "actions_on_time", "Actions done by their due date (%)"
    OVERDUE_ACTIONS = "overdue_actions", "Overdue actions"
    GP_ATTENDANCE = "gp_attendance", "Meetings a GP attended (%)"
    CASES_PER_MEETING = "cases_per_meeting", "Residents discussed per meeting"
    # Decision closure: does a discussion end in something done?
    DISCUSSIONS_CLOSED = "discussions_closed", "Discussions ending with a decision or action (%)"
    DECISIONS_DONE_ON_TIME = "decisions_done_on_time", "Decisions whose actions were all done by their due date (%)"
    DAYS_TO_LAST_ACTION = "days_to_last_action", "Days from decision to its last action done (median)"
    CARRIED_FORWARD = "carried_forward", "Items carried forward more than twice"


ALL_KINDS = "all"
# The order of OutcomeSums' arrays: all kinds together, then each kind of contact.
OUTCOME_KINDS: tuple[str, ...] = (ALL_KINDS, *ServiceUseEvent.Kind.values)


class ResidentWindowQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> ResidentWindowQuerySet:
        return self.filter(team__in=Team.objects.visible_to(user, right))


class ResidentWindow(models.Model):
    """A resident's before-and-after window, kept in step with caseload by each recompute.

    Start S is the intervention start, or the referral date for the comparator cohort; the
    baseline is [S - W, S) and the follow-up [S, S + W). The units are copied here so that the
    roll-up reads one narrow table instead of joining practices, PCNs and neighbourhoods."""

    # The recompute rewrites these tables in bulk and deletes rows of residents that are gone,
    # so no database foreign keys: their per-row checks cost more than the statements.
    resident = models.OneToOneField(
        "caseload.Resident", on_delete=models.CASCADE, primary_key=True, related_name="kpi_window", db_constraint=False
    )
    cohort = models.CharField(max_length=20, choices=Cohort.choices)
    start = models.DateField()
    baseline_start = models.DateField()
    followup_end = models.DateField(help_text="The first day after the follow-up.")
    cohort_month = models.DateField(help_text="The first day of the month of the start.")
    complete = models.BooleanField(help_text="The follow-up had fully passed on the run's date.")
    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    pcn = models.ForeignKey("teams.PCN", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    neighbourhood = models.ForeignKey(
        "teams.Neighbourhood", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    place = models.ForeignKey("teams.Place", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    # Copied too, so feedback adds up in the same pass as service use.
    feedback_score = models.PositiveSmallIntegerField(null=True, blank=True)

    objects = ResidentWindowQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(baseline_start__lt=F("start"), start__lt=F("followup_end")),
                name="resident_window_ordered",
            ),
            models.CheckConstraint(condition=Q(cohort__in=["intervention", "comparator"]), name="resident_window_cohort_known"),
        ]

    def __str__(self) -> str:
        return f"{self.cohort} window from {self.baseline_start} to {self.followup_end}"


class ResidentUsageQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> ResidentUsageQuerySet:
        return self.filter(resident__team__in=Team.objects.visible_to(user, right))


class ResidentUsage(models.Model):
    """Contacts in a complete window: before (baseline) and after (follow-up) the start, by kind.

    One narrow row per resident, so an import recounts only the residents it touched and the
    roll-up to teams and PCNs reads this table, not the service-use events. A column per kind
    (not an array) because the roll-up reads each of them tens of times per resident."""

    resident = models.OneToOneField(
        "caseload.Resident", on_delete=models.CASCADE, primary_key=True, related_name="kpi_usage", db_constraint=False
    )
    baseline_total = models.IntegerField(default=0)
    followup_total = models.IntegerField(default=0)
    baseline_primary_care_appointment = models.IntegerField(default=0)
    followup_primary_care_appointment = models.IntegerField(default=0)
    baseline_ae_attendance = models.IntegerField(default=0)
    followup_ae_attendance = models.IntegerField(default=0)
    baseline_emergency_admission = models.IntegerField(default=0)
    followup_emergency_admission = models.IntegerField(default=0)
    baseline_ambulance_callout = models.IntegerField(default=0)
    followup_ambulance_callout = models.IntegerField(default=0)
    baseline_nhs_111_call = models.IntegerField(default=0)
    followup_nhs_111_call = models.IntegerField(default=0)
    baseline_social_care_contact = models.IntegerField(default=0)
    followup_social_care_contact = models.IntegerField(default=0)
    baseline_community_health_contact = models.IntegerField(default=0)
    followup_community_health_contact = models.IntegerField(default=0)
    baseline_mental_health_contact = models.IntegerField(default=0)
    followup_mental_health_contact = models.IntegerField(default=0)

    objects = ResidentUsageQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.baseline_total} contacts before, {self.followup_total} after"

    @staticmethod
    def column(side: str, kind: str) -> str:
        """The column holding one side's count of a kind ("all" is the total)."""
        return f"{side}_total" if kind == ALL_KINDS else f"{side}_{kind}"


class KpiRunQuerySet(models.QuerySet):
    def current(self) -> KpiRun | None:
        return self.filter(is_current=True).first()


class KpiRun(models.Model):
    """One recompute. Its values are written whole, then it becomes current in one step."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Mode(models.TextChoices):
        FULL = "full", "Full"
        INCREMENTAL = "incremental", "Incremental (residents with new service use or a changed window)"

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.FULL)
    is_current = models.BooleanField(default=False)
    as_of = models.DateField(help_text="Windows whose follow-up ended by this date count.")
    window_months = models.PositiveSmallIntegerField()
    # What an incremental run may build on: a run with other settings forces a full one.
    settings_key = models.CharField(max_length=400, blank=True)
    # The highest service-use id the run had counted: an incremental run recounts residents
    # with events above it.
    service_use_watermark = models.BigIntegerField(default=0)
    residents_recounted = models.PositiveIntegerField(default=0)
    # Supported residents whose comparison people were searched for in this run; the others'
    # were taken from ResidentMatch, their inputs unchanged (docs/adr/0027-matched-pairs-reused.md).
    residents_searched = models.PositiveIntegerField(default=0)
    rows = models.PositiveIntegerField(default=0)
    duration = models.DurationField(null=True, blank=True)
    error = models.TextField(blank=True)

    objects = KpiRunQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-pk"]
        constraints = [
            # Readers take the one current run; a new run becomes current in the transaction
            # that clears the old one.
            models.UniqueConstraint(fields=["is_current"], condition=Q(is_current=True), name="kpi_run_one_current"),
            models.CheckConstraint(condition=~Q(is_current=True) | Q(status="succeeded"), name="kpi_run_current_succeeded"),
            models.CheckConstraint(condition=Q(status__in=["running", "succeeded", "failed"]), name="kpi_run_status_known"),
        ]

    def __str__(self) -> str:
        return f"KPI run {self.pk} ({self.get_status_display().lower()}, {self.started_at:%Y-%m-%d %H:%M})"


@dataclass(frozen=True)
class KpiUnits:
    """The units whose figures a person sees, by level, with their names and how they nest
    (so the filters and the scope need no further queries)."""

    team_ids: frozenset[int] = frozenset()
    pcn_ids: frozenset[int] = frozenset()
    neighbourhood_ids: frozenset[int] = frozenset()
    place_ids: frozenset[int] = frozenset()
    # Every team they see lies in a place they see whole: the places' figures are the sum.
    whole_places: bool = False
    labels: dict[tuple[str, int], str] = field(default_factory=dict, compare=False)
    # A team serves one neighbourhood; a PCN lies in one neighbourhood.
    neighbourhood_of_team: dict[int, int] = field(default_factory=dict, compare=False)
    neighbourhood_of_pcn: dict[int, int] = field(default_factory=dict, compare=False)

    def __bool__(self) -> bool:
        return bool(self.team_ids or self.pcn_ids or self.neighbourhood_ids or self.place_ids)

    def ids_at(self, level: str) -> frozenset[int]:
        return {
            Level.TEAM: self.team_ids,
            Level.PCN: self.pcn_ids,
            Level.NEIGHBOURHOOD: self.neighbourhood_ids,
            Level.PLACE: self.place_ids,
        }[level]

    def label(self, level: str, unit_id: int) -> str:
        return self.labels[(level, unit_id)]

    def choices(self, level: str) -> list[tuple[int, str]]:
        """The units at a level, by name, for a filter."""
        return sorted(((unit_id, self.label(level, unit_id)) for unit_id in self.ids_at(level)), key=lambda choice: choice[1])

    def team_of_neighbourhood(self, neighbourhood_id: int) -> int | None:
        return next((team for team, nb in self.neighbourhood_of_team.items() if nb == neighbourhood_id), None)

    def within_team(self, team_id: int) -> KpiUnits:
        """The team, its neighbourhood and its PCNs."""
        neighbourhood_id = self.neighbourhood_of_team[team_id]
        return KpiUnits(
            team_ids=frozenset({team_id}),
            pcn_ids=frozenset(pcn for pcn, nb in self.neighbourhood_of_pcn.items() if nb == neighbourhood_id),
            neighbourhood_ids=frozenset({neighbourhood_id}),
            labels=self.labels,
            neighbourhood_of_team={team_id: neighbourhood_id},
            neighbourhood_of_pcn={pcn: nb for pcn, nb in self.neighbourhood_of_pcn.items() if nb == neighbourhood_id},
        )


def kpi_units_for(user) -> KpiUnits:
    """The one place that decides whose figures a person sees: the teams where they hold the
    right to view KPIs, those teams' PCNs and neighbourhoods, and a place only when they hold
    the right in every team of it (a place's figure includes all its teams). Four queries."""
    from int_app.teams.models import PCN, Team
    from int_app.teams.roles import Right

    teams = list(Team.objects.with_right(user, Right.VIEW_KPIS).select_related("neighbourhood__place"))
    if not teams:
        return KpiUnits()
    team_ids = frozenset(team.pk for team in teams)
    places = {team.neighbourhood.place_id: team.neighbourhood.place.name for team in teams}
    uncovered = set(
        Team.objects.filter(neighbourhood__place_id__in=places).exclude(pk__in=team_ids).values_list("neighbourhood__place_id", flat=True)
    )
    pcns = list(PCN.objects.filter(neighbourhood__team__in=team_ids).values_list("pk", "name", "ods_code", "neighbourhood_id"))
    labels = {
        **{(Level.TEAM, team.pk): team.name for team in teams},
        **{(Level.NEIGHBOURHOOD, team.neighbourhood_id): team.neighbourhood.name for team in teams},
        **{(Level.PLACE, place): name for place, name in places.items()},
        **{(Level.PCN, pk): f"{name} ({ods_code})" for pk, name, ods_code, _nb in pcns},
    }
    return KpiUnits(
        team_ids=team_ids,
        pcn_ids=frozenset(pk for pk, *_ in pcns),
        neighbourhood_ids=frozenset(team.neighbourhood_id for team in teams),
        place_ids=frozenset(set(places) - uncovered),
        whole_places=not uncovered,
        labels=labels,
        neighbourhood_of_team={team.pk: team.neighbourhood_id for team in teams},
        neighbourhood_of_pcn={pk: nb for pk, _name, _ods, nb in pcns},
    )


class KpiValueQuerySet(models.QuerySet):
    def visible_to(self, user) -> KpiValueQuerySet:
        return self.of_units(kpi_units_for(user))

    def of_units(self, units: KpiUnits) -> KpiValueQuerySet:
        """Figures of these units only (pass the units kpi_units_for gave, or a subset)."""
        if not units:
            return self.none()
        return self.filter(
            Q(level=Level.TEAM, unit_id__in=units.team_ids)
            | Q(level=Level.NEIGHBOURHOOD, unit_id__in=units.neighbourhood_ids)
            | Q(level=Level.PCN, unit_id__in=units.pcn_ids)
            | Q(level=Level.PLACE, unit_id__in=units.place_ids)
        )

    def of_run(self, run: KpiRun) -> KpiValueQuerySet:
        return self.filter(run=run)


class FigureColumns(models.Model):
    """The columns of one figure, as KpiValue shows it and ProcessValue stores it."""

    level = models.CharField(max_length=20, choices=Level.choices)
    unit_id = models.BigIntegerField()
    unit_label = models.CharField(max_length=200)
    measure = models.CharField(max_length=40, choices=Measure.choices)
    # The contact kind, "all", or for feedback scores the score "1" to "5".
    kind = models.CharField(max_length=30, default=ALL_KINDS)
    cohort = models.CharField(max_length=20, choices=Cohort.choices, blank=True)
    period = models.DateField(null=True, blank=True, help_text="The cohort month; empty for all months.")
    # n: residents for the outcome measures, or what a process measure counts (actions, meetings).
    n = models.IntegerField(default=0)
    baseline = models.BigIntegerField(default=0)
    followup = models.BigIntegerField(default=0)
    # Per-resident sums of squares and products, for the cluster-robust interval.
    baseline_sq = models.BigIntegerField(default=0)
    followup_sq = models.BigIntegerField(default=0)
    baseline_followup = models.BigIntegerField(default=0)
    value = models.FloatField(null=True, blank=True)
    pct_change = models.FloatField(null=True, blank=True)
    ci_low = models.FloatField(null=True, blank=True)
    ci_high = models.FloatField(null=True, blank=True)
    too_few = models.BooleanField(default=False)
    # For the decision-closure measures, which count discussions, decisions or agenda items: how
    # many residents those are about, for the small-numbers rule. Empty where n itself says it.
    residents = models.IntegerField(null=True, blank=True)

    class Meta:
        abstract = True


class KpiValue(FigureColumns):
    """One figure of one run: a unit (team, PCN, neighbourhood or place), a measure, a kind of
    contact ("all" for every kind together), a cohort and a period (a cohort month, or none for
    all months).

    For service use the row keeps the sums the interval needs, so rows of several months or
    units add up to the same figure a single row would give (see kpis/statistics.py).

    What every reader reads, and never written: a database view (docs/adr/0030-kpi-figures-a-view.md)
    over the two tables the recompute writes, ProcessValue (process and decision-closure figures,
    stored in this shape) and OutcomeSums (one row per unit, cohort and period holding every kind,
    in progress and the feedback scores, which the view spreads into these rows, working out each
    change and its interval as it is read)."""

    run = models.ForeignKey(KpiRun, on_delete=models.DO_NOTHING, db_constraint=False, related_name="values", db_index=False)

    objects = KpiValueQuerySet.as_manager()

    class Meta:
        managed = False  # the view is made by migration 0012

    def __str__(self) -> str:
        return f"{self.unit_label} {self.measure} {self.kind} {self.cohort} {self.period or 'all months'}"


class ProcessValue(FigureColumns):
    """A process or decision-closure figure of one run, per team or place, stored as KpiValue
    reads it (a few hundred rows a run). Written only by the recompute."""

    # No database foreign key: only the recompute writes these rows, in the transaction that
    # creates their run; prune_old_runs deletes a run's rows with it.
    run = models.ForeignKey(KpiRun, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", db_index=False)

    class Meta:
        indexes = [models.Index(fields=["run", "level", "unit_id", "measure"], name="process_value_run_unit_measure")]
        constraints = [
            models.CheckConstraint(condition=Q(level__in=["team", "place"]), name="process_value_level_known"),
        ]

    def __str__(self) -> str:
        return f"{self.unit_label} {self.measure} {self.period or 'all months'}"


class OutcomeSums(models.Model):
    """Service use, residents in progress and feedback of one unit, cohort and period (a cohort
    month, or none for all months) in one run: one row where KpiValue shows up to sixteen (one per
    kind of contact, in progress, feedback and each feedback score), so a run writes a tenth of
    the rows. Written only by the recompute; read through KpiValue.

    The five sums of each kind are arrays in the order of OUTCOME_KINDS ("all", then the kinds of
    contact); a change of the kinds is a migration that makes the view again
    (kpis/compute.figures_view_sql) with them."""

    run = models.ForeignKey(KpiRun, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", db_index=False)
    level = models.CharField(max_length=20, choices=Level.choices)
    unit_id = models.BigIntegerField()
    unit_label = models.CharField(max_length=200)
    cohort = models.CharField(max_length=20, choices=Cohort.choices)
    period = models.DateField(null=True, blank=True, help_text="The cohort month; empty for all months.")
    # Residents with a complete window (the n of every kind), and those still in follow-up.
    n = models.IntegerField()
    in_progress = models.IntegerField()
    baseline = ArrayField(models.BigIntegerField())
    followup = ArrayField(models.BigIntegerField())
    baseline_sq = ArrayField(models.BigIntegerField())
    followup_sq = ArrayField(models.BigIntegerField())
    baseline_followup = ArrayField(models.BigIntegerField())
    # Residents giving each score, 1 to 5.
    feedback_scores = ArrayField(models.IntegerField())
    # KPI_MIN_RESIDENTS when the run was written: the view marks a figure about fewer as too few.
    min_residents = models.IntegerField()

    class Meta:
        verbose_name_plural = "outcome sums"
        indexes = [models.Index(fields=["run", "level", "unit_id"], name="outcome_sums_run_unit")]
        constraints = [
            models.CheckConstraint(condition=Q(level__in=["team", "pcn", "neighbourhood", "place"]), name="outcome_sums_level_known"),
        ]

    def __str__(self) -> str:
        return f"{self.unit_label} {self.cohort} {self.period or 'all months'}"


# --- Matched comparison (docs/adr/0021-matched-comparison.md) ------------------------------------
# Written by the KPI run (kpis/matching.py) under the run, so they switch with it.


class MatchedPairQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> MatchedPairQuerySet:
        """A resident's comparison people are their team's, as the resident's usage is."""
        return self.filter(resident__team__in=Team.objects.visible_to(user, right))


class MatchedPair(models.Model):
    """One comparison person chosen for one supported resident in one run: a person of the team's
    current population extract, not on any caseload at the start, alike in PCN (or place), sex,
    age band and baseline use. Chosen with replacement: a person may serve several residents."""

    run = models.ForeignKey(KpiRun, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", db_index=False)
    resident = models.ForeignKey(
        "caseload.Resident", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", db_index=False
    )
    # 1, 2, 3: the closest first.
    rank = models.PositiveSmallIntegerField()
    comparison = models.ForeignKey(
        "caseload.PopulationPerson", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", db_index=False
    )
    # Matched within the resident's PCN, or within their place when the PCN had too few.
    within_place = models.BooleanField(default=False)

    objects = MatchedPairQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "resident", "rank"], name="matched_pair_once_per_rank")]

    def __str__(self) -> str:
        return f"Resident {self.resident_id} ~ person {self.comparison_id} (#{self.rank})"


class ResidentMatchQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> ResidentMatchQuerySet:
        return self.filter(resident__team__in=Team.objects.visible_to(user, right))


class ResidentMatch(models.Model):
    """The comparison people last found for one supported resident, and a fingerprint of what the
    search read of them (`inputs`: the extracts, PCNs and places, and the resident's own window and
    extract row). An incremental KPI run copies these into its MatchedPair rows when the
    fingerprint is unchanged and no caseload episode that could make one of their candidates
    (in)eligible changed since (MatchedEpisode); it searches again for everyone else. Written in
    the run's transaction, so it always describes the current run's pairs
    (docs/adr/0027-matched-pairs-reused.md)."""

    resident = models.OneToOneField(
        "caseload.Resident", on_delete=models.DO_NOTHING, db_constraint=False, primary_key=True, related_name="+"
    )
    inputs = models.CharField(max_length=32)
    # PopulationPerson ids, the closest first (rank 1); empty when nobody was found.
    comparisons = ArrayField(models.BigIntegerField(), default=list)
    within_place = models.BooleanField(default=False)
    # Each one's contacts in the resident's months, the resident first and then the comparison
    # people by rank: a row of (baseline, follow-up) for all kinds and then each kind number.
    # Empty until counted; a version of the extract never changes, so neither do these.
    counts = ArrayField(ArrayField(models.IntegerField()), default=list)

    objects = ResidentMatchQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "resident matches"

    def __str__(self) -> str:
        return f"Resident {self.resident_id}: {len(self.comparisons)} comparison people"


class MatchedEpisodeQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> MatchedEpisodeQuerySet:
        return self.filter(resident__team__in=Team.objects.visible_to(user, right))


class MatchedEpisode(models.Model):
    """Each resident's caseload episode as the stored matches (ResidentMatch) were chosen against
    it: whether a person of the extract counts as referred, and when they were on a caseload,
    decide who may be a comparison. A run compares these with the residents' episodes now, and
    searches again for the residents whose candidates include a person whose episode changed."""

    resident = models.OneToOneField(
        "caseload.Resident", on_delete=models.DO_NOTHING, db_constraint=False, primary_key=True, related_name="+"
    )
    nhs_number = models.CharField(max_length=10)
    referral_date = models.DateField()
    # The day the episode ended (triage for a referral not accepted); empty while it is open.
    ends = models.DateField(null=True, blank=True)

    objects = MatchedEpisodeQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.nhs_number} from {self.referral_date} to {self.ends or 'now'}"


class MatchedValue(models.Model):
    """The matched effect of one unit, kind and period (a cohort month, or none for all months):
    the sums from which the difference-in-differences and its interval are worked out, and which
    add up across rows (kpis/statistics.py `MatchedSums`)."""

    run = models.ForeignKey(KpiRun, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", db_index=False)
    level = models.CharField(max_length=20, choices=Level.choices)
    unit_id = models.BigIntegerField()
    unit_label = models.CharField(max_length=200)
    kind = models.CharField(max_length=30, default=ALL_KINDS)
    period = models.DateField(null=True, blank=True)
    # Supported residents with a complete window, and those of them with a comparison person.
    eligible = models.IntegerField(default=0)
    n = models.IntegerField(default=0)
    comparisons = models.IntegerField(default=0)
    # B = Σ b_i, D = Σ d_i (d_i the resident's change less their comparisons' mean change), and
    # the per-resident sums of squares and products the cluster interval needs.
    baseline = models.FloatField(default=0)
    difference = models.FloatField(default=0)
    baseline_sq = models.FloatField(default=0)
    difference_sq = models.FloatField(default=0)
    baseline_difference = models.FloatField(default=0)

    class Meta:
        indexes = [models.Index(fields=["run", "level", "unit_id"], name="matched_value_run_unit")]

    def __str__(self) -> str:
        return f"{self.unit_label} matched {self.kind} {self.period or 'all months'}"


class MatchedBalanceQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> MatchedBalanceQuerySet:
        return self.filter(team__in=Team.objects.visible_to(user, right))


class MatchedBalance(models.Model):
    """How alike the team's supported residents and their comparison people are on one matching
    variable: the standardised mean difference against everyone eligible (before matching) and
    against the chosen comparison people (after)."""

    run = models.ForeignKey(KpiRun, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", db_index=False)
    team = models.ForeignKey("teams.Team", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", db_index=False)
    variable = models.CharField(max_length=40)
    smd_before = models.FloatField(null=True, blank=True)
    smd_after = models.FloatField(null=True, blank=True)
    eligible = models.IntegerField(default=0)
    matched = models.IntegerField(default=0)

    objects = MatchedBalanceQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["run", "team"], name="matched_balance_run_team")]

    def __str__(self) -> str:
        return f"{self.variable}: {self.smd_before} → {self.smd_after}"


class PopulationHistoryQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> PopulationHistoryQuerySet:
        """A person's history is their extract's, so their team's."""
        return self.filter(extract__team__in=Team.objects.visible_to(user, right))


class PopulationHistory(models.Model):
    """One person of one version of a team's population extract, as the matched comparison reads
    them: contacts (all kinds, and the emergency kinds) added up month by month, so any run of
    months is two array reads. Built once per extract version, by the first KPI run that finds it
    current (kpis/matching.py `population_histories_update`), and deleted when the version stops
    being current, so a run never adds up the extract's contacts again.

    `total[k]` is the person's contacts in the extract's months before its k-th month (index 1 is
    the first month, so total[1] is 0, and the array has one more cell than the extract has months):
    the months [a, b) hold total[b] - total[a]. The person's matching columns are copied from their
    PopulationPerson row, which a version never changes."""

    person = models.OneToOneField(
        "caseload.PopulationPerson", on_delete=models.DO_NOTHING, db_constraint=False, primary_key=True, related_name="+"
    )
    extract = models.ForeignKey("caseload.PopulationExtract", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    nhs_number = models.CharField(max_length=10, db_collation="C")
    practice = models.ForeignKey(
        "teams.Practice", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", db_index=False
    )
    birth_year = models.SmallIntegerField()
    sex = models.CharField(max_length=1)
    total = ArrayField(models.IntegerField())
    emergency = ArrayField(models.IntegerField())

    objects = PopulationHistoryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "population histories"

    def __str__(self) -> str:
        return f"{self.nhs_number} in extract {self.extract_id}"


class PopulationCellQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> PopulationCellQuerySet:
        return self.filter(extract__team__in=Team.objects.visible_to(user, right))


class PopulationCell(models.Model):
    """The people of one version of a team's extract who, at one month of S, were alike in all the
    matched comparison matches on: practice, sex, 10-year age band at S, and the three counts
    (contacts and emergency contacts in the 6 months before S, contacts in the 6 before those).
    Built with the extract's PopulationHistory rows, for every month of S the histories reach 12
    months back from, so a KPI run reads cells rather than every person at every start month.

    `members` are the people's PopulationPerson ids in NHS-number order (the matcher's last tie
    break); `people`, `birth_years` and `birth_years_sq` count and add them up for the balance."""

    # The extract's index is the second one below.
    extract = models.ForeignKey(
        "caseload.PopulationExtract", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", db_index=False
    )
    practice = models.ForeignKey(
        "teams.Practice", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", db_index=False
    )
    sex = models.CharField(max_length=1)
    # The month of S as a month number (year × 12 + month − 1).
    month = models.IntegerField()
    # (year of S − birth year) // 10, rounded down.
    band = models.SmallIntegerField()
    baseline_total = models.IntegerField()
    baseline_emergency = models.IntegerField()
    earlier_total = models.IntegerField()
    people = models.IntegerField()
    birth_years = models.BigIntegerField()
    birth_years_sq = models.BigIntegerField()
    members = ArrayField(models.BigIntegerField())

    objects = PopulationCellQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(
                fields=["practice", "sex", "month", "band", "baseline_emergency", "baseline_total"], name="population_cell_practice"
            ),
            models.Index(
                fields=["extract", "sex", "month", "band", "baseline_emergency", "baseline_total"], name="population_cell_extract"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.people} alike in extract {self.extract_id}, month {self.month}"


class PopulationPoolQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> PopulationPoolQuerySet:
        return self.filter(extract__team__in=Team.objects.visible_to(user, right))


class PopulationPool(models.Model):
    """Everyone of one version of a team's extract at one month of S, added up for the matched
    comparison's balance (its "before"): the people, and their matching counts and birth years
    added up with their squares. Built from the version's cells when they are built, so a run
    reads a row a month rather than every cell; whole numbers, so the balance is exactly what
    adding up the cells gives."""

    extract = models.ForeignKey("caseload.PopulationExtract", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    # The month of S as a month number (year × 12 + month − 1), as PopulationCell.month.
    month = models.IntegerField()
    people = models.BigIntegerField()
    female = models.BigIntegerField()
    baseline_total = models.BigIntegerField()
    baseline_total_sq = models.BigIntegerField()
    baseline_emergency = models.BigIntegerField()
    baseline_emergency_sq = models.BigIntegerField()
    earlier_total = models.BigIntegerField()
    earlier_total_sq = models.BigIntegerField()
    birth_years = models.BigIntegerField()
    birth_years_sq = models.BigIntegerField()

    objects = PopulationPoolQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["extract", "month"], name="population_pool_once_per_month")]

    def __str__(self) -> str:
        return f"{self.people} people of extract {self.extract_id}, month {self.month}"
