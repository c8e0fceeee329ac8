"""Demo data for the caseload feature, seeded by `manage.py seed_demo` after the organisation.

About 120 residents per demo team in every state of the journey, a directory of interventions,
support plans, and two years of service use: heavy users referred at a spell of heavier use that
passes by itself, three in four of whom use services less once their intervention starts (as in
the pilot: about a third fewer GP appointments; on average about 10 % fewer A&E attendances than
they would have had), some not (ADR 0023). Deterministic (one seeded random generator, dates relative to today)
and idempotent (it does nothing once residents exist)."""

from __future__ import annotations

import datetime
import math
import random
from dataclasses import dataclass

from django.utils import timezone

from int_app.teams.models import Team, User
from int_app.teams.roles import Role

from .models import EMERGENCY_KINDS, Goal, Intervention, PlannedIntervention, Resident, ResidentEvent, ServiceUseEvent
from .nhs_number import nhs_number_check_digit

SEED = 2026_11_23
HISTORY_DAYS = 730
Status = Resident.Status
Kind = ServiceUseEvent.Kind
Event = ResidentEvent.Kind

# How many of each team's residents are at each stage.
STAGES: tuple[tuple[str, int], ...] = (
    (Status.REFERRED, 14),
    (Status.ACCEPTED, 10),
    (Status.NOT_ACCEPTED, 10),
    (Status.ACTIVE, 46),
    (Status.STEPPED_DOWN, 16),
    (Status.CLOSED, 24),
)

GIVEN_NAMES = (
    "Margaret", "Joseph", "Olive", "Winston", "Parveen", "Stanislaw", "Doreen", "Abdul", "Edna", "Clifford",
    "Nasreen", "Barbara", "Delroy", "Irene", "Mohammed", "Kathleen", "Gurpreet", "Sheila", "Leroy", "Maureen",
    "Bridget", "Rashid", "Eileen", "Desmond", "Shirley", "Tariq", "Jean", "Vernon", "Sylvia", "Harjit",
)
FAMILY_NAMES = (
    "Begum", "Clarke", "Patel", "Adeyemi", "Murphy", "Nowak", "Hussain", "Wright", "Mensah", "Turner", "Khan",
    "Evans", "Rahman", "O'Brien", "Chen", "Hughes", "Ali", "Smith", "Jones", "Campbell", "Kaur", "Walsh",
    "Brown", "Edwards", "Iqbal", "Francis", "Thompson", "Kowalski", "Reid", "Bibi",
)
REASONS = (
    "Frequent A&E attendance after falls",
    "Lives alone, struggling with medication since discharge",
    "Carer breakdown; husband with dementia",
    "Repeated ambulance call-outs for breathlessness (COPD)",
    "Isolated and low mood; missed GP appointments",
    "Housing damp affecting asthma; rent arrears",
    "Multiple long-term conditions, eight GP contacts a month",
    "Recently bereaved, not eating well",
)
REFERRERS = {
    Resident.ReferralSource.GP: "Dr Khan, Church Road Surgery",
    Resident.ReferralSource.AE_FREQUENT_ATTENDER: "A&E frequent-attender list, Heartlands Hospital",
    Resident.ReferralSource.SOCIAL_CARE: "Adult social care duty team",
    Resident.ReferralSource.COMMUNITY_SERVICES: "District nursing team",
    Resident.ReferralSource.MENTAL_HEALTH_SERVICES: "Community mental health team",
    Resident.ReferralSource.VOLUNTARY_SECTOR: "Age UK Birmingham",
    Resident.ReferralSource.CASE_FINDING: "Risk-stratification list, PCN",
    Resident.ReferralSource.SELF_OR_FAMILY: "Daughter, by telephone",
}
GOALS = (
    "Get out to the lunch club once a week",
    "Take medication as prescribed without help",
    "Feel safe walking to the shops",
    "Have the damp in the flat fixed",
    "Claim the benefits I am entitled to",
    "Have a break from caring once a fortnight",
    "Sleep through the night more often",
    "Know who to call before calling 999",
)
INTERVENTIONS: tuple[tuple[str, str, str, str], ...] = (
    # (name, provider, category, eligibility)
    ("Lunch club", "{area} Voluntary Action", Intervention.Category.SOCIAL, "Over 60s; transport can be arranged"),
    ("Befriending calls", "Age UK Birmingham", Intervention.Category.MENTAL_WELLBEING, "Anyone who lives alone"),
    ("Falls prevention classes", "Community physiotherapy", Intervention.Category.HEALTH, "One fall or more in the last year"),
    ("Handyperson and home safety check", "Birmingham City Council", Intervention.Category.HOUSING, "Homeowners and private tenants over 60"),
    ("Benefits and debt advice", "Citizens Advice Birmingham", Intervention.Category.FINANCIAL, "Any resident"),
    ("Carers' breaks", "Birmingham Carers Hub", Intervention.Category.CARERS, "Unpaid carers registered with the hub"),
    ("Walking group", "{area} Parks Friends", Intervention.Category.ACTIVITY, "Able to walk 20 minutes"),
    ("Talking therapies", "Birmingham Healthy Minds", Intervention.Category.MENTAL_WELLBEING, "Mild to moderate anxiety or low mood"),
    ("Medicines review", "PCN clinical pharmacists", Intervention.Category.HEALTH, "Five or more regular medicines"),
    ("Damp and mould repairs", "Housing repairs team", Intervention.Category.HOUSING, "Council tenants"),
    ("Chair-based exercise", "{area} Leisure Centre", Intervention.Category.ACTIVITY, "Limited mobility"),
    ("Social prescribing link worker", "{area} Primary Care Networks", Intervention.Category.SOCIAL, "Registered with a PCN practice"),
)
# Contacts a month for a typical resident of this group, before any intervention.
MONTHLY_USE: dict[str, float] = {
    Kind.PRIMARY_CARE_APPOINTMENT: 2.2,
    Kind.AE_ATTENDANCE: 0.45,
    Kind.EMERGENCY_ADMISSION: 0.12,
    Kind.AMBULANCE_CALLOUT: 0.25,
    Kind.NHS_111_CALL: 0.35,
    Kind.SOCIAL_CARE_CONTACT: 0.6,
    Kind.COMMUNITY_HEALTH_CONTACT: 0.8,
    Kind.MENTAL_HEALTH_CONTACT: 0.3,
}
# How much more a spell of heavier use raises emergency contacts than the others (see in_spell).
SPELL_EMERGENCY = 2.0
# After the intervention starts, for most residents (the pilot's headline figures and a guess
# for the rest); a quarter of residents do not improve, and some of those use 15 % more. On A&E
# that is 0.75 × 0.85 + 0.075 × 1.15 + 0.175 = 0.90 of what they would have had: the demo's
# true effect, about −10 %, which the matched comparison should find.
AFTER_START: dict[str, float] = {
    Kind.PRIMARY_CARE_APPOINTMENT: 0.68,
    Kind.AE_ATTENDANCE: 0.85,
    Kind.EMERGENCY_ADMISSION: 0.8,
    Kind.AMBULANCE_CALLOUT: 0.8,
    Kind.NHS_111_CALL: 0.75,
    Kind.SOCIAL_CARE_CONTACT: 1.1,
    Kind.COMMUNITY_HEALTH_CONTACT: 0.9,
    Kind.MENTAL_HEALTH_CONTACT: 0.85,
}
SOURCES = {
    Kind.PRIMARY_CARE_APPOINTMENT: "EMIS",
    Kind.AE_ATTENDANCE: "UHB-ED",
    Kind.EMERGENCY_ADMISSION: "UHB-PAS",
    Kind.AMBULANCE_CALLOUT: "WMAS",
    Kind.NHS_111_CALL: "NHS111",
    Kind.SOCIAL_CARE_CONTACT: "BCC-ECLIPSE",
    Kind.COMMUNITY_HEALTH_CONTACT: "BCHC-RIO",
    Kind.MENTAL_HEALTH_CONTACT: "BSMHFT-RIO",
}
FEEDBACK_SCORES = (5, 5, 5, 5, 5, 4, 4, 4, 4, 3, 4, 5, 5, 4, 3, 5, 4, 2, 5, 4)  # averages about 4.3


@dataclass
class People:
    coordinator: User
    key_workers: list[User]


def seed_caseload(stdout) -> str:
    if Resident.objects.exists():
        return "Caseload demo data already loaded."
    rng = random.Random(SEED)
    today = timezone.localdate()
    totals = {"residents": 0, "interventions": 0, "service use": 0}
    for team_number, team in enumerate(Team.objects.filter(slug__in=["east", "west"]).order_by("slug")):
        counts = seed_team(team, team_number, rng, today)
        for key, value in counts.items():
            totals[key] += value
    return (
        f"Caseload: {totals['residents']} residents, {totals['interventions']} interventions, "
        f"{totals['service use']:,} service-use contacts."
    )


def seed_team(team: Team, team_number: int, rng: random.Random, today: datetime.date) -> dict[str, int]:
    memberships = list(team.memberships.select_related("user"))
    people = People(
        coordinator=next(m.user for m in memberships if m.role == Role.COORDINATOR),
        key_workers=sorted((m.user for m in memberships if m.is_key_worker), key=lambda u: u.email),
    )
    practices = list(team.practices.order_by("ods_code"))
    area = team.neighbourhood.name
    interventions = Intervention.objects.bulk_create(
        Intervention(
            team=team,
            name=name,
            provider=provider.format(area=area),
            category=category,
            contact=f"0121 496 {1000 + index:04d}",
            eligibility=eligibility,
        )
        for index, (name, provider, category, eligibility) in enumerate(INTERVENTIONS)
    )

    residents: list[Resident] = []
    stages = [stage for stage, count in STAGES for _ in range(count)]
    for index, stage in enumerate(stages):
        residents.append(demo_resident(team, team_number, index, stage, rng, today, people, practices))
    # A few closed residents were referred again: a second episode with the same NHS number.
    closed = [r for r in residents if r.status == Status.CLOSED][:3]
    for offset, earlier in enumerate(closed):
        again = demo_resident(team, team_number, len(residents) + offset, Status.REFERRED, rng, today, people, practices)
        again.nhs_number, again.given_name, again.family_name = earlier.nhs_number, earlier.given_name, earlier.family_name
        again.date_of_birth = earlier.date_of_birth
        residents.append(again)
    Resident.objects.bulk_create(residents)

    events, goals, plans, service_use = [], [], [], []
    for index, resident in enumerate(residents):
        events += journey_events(resident, rng, today, people)
        goals += plan_goals(resident, rng)
        plans += plan_interventions(resident, rng, interventions)
        if index < len(stages):  # a second episode's contacts are already in the first's history
            service_use += service_history(resident, f"{team.slug}-{index}", rng, today)
    ResidentEvent.objects.bulk_create(events, batch_size=2_000)
    Goal.objects.bulk_create(goals, batch_size=2_000)
    PlannedIntervention.objects.bulk_create(plans, batch_size=2_000)
    ServiceUseEvent.objects.bulk_create(service_use, batch_size=5_000)
    return {"residents": len(residents), "interventions": len(interventions), "service use": len(service_use)}


def nhs_number_for(team_number: int, index: int) -> str:
    """Valid, distinct numbers in a range of their own (9 99x ...), never a real person's pattern."""
    stem = 999_000_000 + team_number * 100_000 + index * 7
    while nhs_number_check_digit(f"{stem:09d}") is None:
        stem += 1
    return f"{stem:09d}{nhs_number_check_digit(f'{stem:09d}')}"


def demo_resident(
    team: Team, team_number: int, index: int, stage: str, rng: random.Random, today: datetime.date,
    people: People, practices: list,
) -> Resident:
    days = datetime.timedelta
    referral_ago = {
        Status.REFERRED: rng.randint(0, 13),
        Status.ACCEPTED: rng.randint(10, 45),
        Status.NOT_ACCEPTED: rng.randint(20, 400),
        Status.ACTIVE: rng.randint(35, 330),
        Status.STEPPED_DOWN: rng.randint(200, 420),
        Status.CLOSED: rng.randint(380, 690),
    }[stage]
    source = rng.choice(list(REFERRERS))
    resident = Resident(
        team=team,
        practice=rng.choice(practices),
        nhs_number=nhs_number_for(team_number, index),
        # Shifting the family names on each pass through the given names keeps every name distinct.
        given_name=GIVEN_NAMES[(index + team_number) % len(GIVEN_NAMES)],
        family_name=FAMILY_NAMES[(index + 7 * (index // len(GIVEN_NAMES)) + 3 * team_number) % len(FAMILY_NAMES)],
        date_of_birth=today - days(days=rng.randint(62 * 365, 94 * 365)),
        status=stage,
        referral_date=today - days(days=referral_ago),
        referral_source=source,
        referral_reason=rng.choice(REASONS),
        referrer=REFERRERS[source],
        referred_by=people.coordinator,
        created_at=timezone.now(),
    )
    if stage == Status.REFERRED:
        return resident
    resident.triaged_on = min(resident.referral_date + days(days=rng.randint(3, 10)), today)
    resident.triaged_by = people.coordinator
    if stage == Status.NOT_ACCEPTED:
        resident.not_accepted_reason = rng.choice(Resident.NotAcceptedReason.values)
        if resident.not_accepted_reason == Resident.NotAcceptedReason.OTHER:
            resident.not_accepted_detail = "Already under the respiratory virtual ward."
        return resident
    resident.key_worker = people.key_workers[index % len(people.key_workers)]
    if stage == Status.ACCEPTED:
        if rng.random() < 0.3:
            resident.consent_date = resident.triaged_on
        return with_consent_details(resident, rng)
    resident.intervention_start = min(resident.triaged_on + days(days=rng.randint(4, 20)), today)
    # Most residents give consent at or soon after the start; a few have not been asked yet.
    if stage != Status.ACTIVE or rng.random() < 0.85:
        resident.consent_date = min(resident.intervention_start + days(days=rng.randint(0, 5)), today)
    if stage in (Status.STEPPED_DOWN, Status.CLOSED):
        latest = today - days(days=10 if stage == Status.STEPPED_DOWN else 40)
        resident.stepped_down_on = min(resident.intervention_start + days(days=rng.randint(90, 200)), latest)
        resident.step_down_outcome = rng.choices(
            Resident.StepDownOutcome.values, weights=[45, 25, 12, 8, 4, 6]
        )[0]
        if resident.step_down_outcome not in (Resident.StepDownOutcome.DIED, Resident.StepDownOutcome.DISENGAGED):
            resident.feedback_score = rng.choice(FEEDBACK_SCORES)
            resident.feedback_comment = rng.choice(
                ("Knowing who to ring made all the difference.", "The lunch club got me out of the house.",
                 "Everyone talked to each other for once.", "Helpful, though it took a while to start.", "")
            )
    if stage == Status.CLOSED:
        resident.closed_on = min(resident.stepped_down_on + days(days=rng.randint(7, 30)), today)
    return with_consent_details(resident, rng)


def with_consent_details(resident: Resident, rng: random.Random) -> Resident:
    if resident.consent_date:
        resident.consent_method = rng.choices(Resident.ConsentMethod.values, weights=[60, 30, 8, 2])[0]
        resident.consent_recorded_by = resident.key_worker
    return resident


def midday(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(12)))


def journey_events(resident: Resident, rng: random.Random, today: datetime.date, people: People) -> list[ResidentEvent]:
    def event(kind: str, day: datetime.date, by: User, detail: str = "") -> ResidentEvent:
        return ResidentEvent(resident=resident, kind=kind, occurred_at=midday(day), recorded_at=midday(day), by=by, detail=detail)

    events = [event(Event.REFERRED, resident.referral_date, people.coordinator, f"{resident.get_referral_source_display()}: {resident.referrer}.")]
    if resident.status == Status.NOT_ACCEPTED:
        events.append(event(Event.NOT_ACCEPTED, resident.triaged_on, people.coordinator, f"{resident.get_not_accepted_reason_display()}."))
        return events
    if resident.triaged_on:
        events.append(event(Event.ACCEPTED, resident.triaged_on, people.coordinator, f"Key worker: {resident.key_worker}."))
    if resident.consent_date:
        events.append(event(Event.CONSENT_RECORDED, resident.consent_date, resident.key_worker, f"{resident.get_consent_method_display()}."))
    if resident.intervention_start:
        events.append(event(Event.INTERVENTION_STARTED, resident.intervention_start, resident.key_worker))
        # Key workers keep in touch; about one active resident in five has gone quiet for a month or more.
        quiet = resident.status == Status.ACTIVE and rng.random() < 0.2
        last_touch = today - datetime.timedelta(days=rng.randint(30, 60) if quiet else rng.randint(0, 20))
        if resident.status == Status.ACTIVE and last_touch > resident.intervention_start:
            events.append(event(Event.GOAL_UPDATED, last_touch, resident.key_worker, "Reviewed the goals with the resident."))
    if resident.stepped_down_on:
        events.append(event(Event.STEPPED_DOWN, resident.stepped_down_on, resident.key_worker, f"{resident.get_step_down_outcome_display()}."))
    if resident.closed_on:
        events.append(event(Event.CLOSED, resident.closed_on, people.coordinator))
    return events


def plan_goals(resident: Resident, rng: random.Random) -> list[Goal]:
    if not resident.intervention_start:
        return []
    finished = resident.status in (Status.STEPPED_DOWN, Status.CLOSED)
    statuses = (
        [Goal.Status.ACHIEVED, Goal.Status.ACHIEVED, Goal.Status.NOT_ACHIEVED]
        if finished
        else [Goal.Status.NOT_STARTED, Goal.Status.IN_PROGRESS, Goal.Status.IN_PROGRESS, Goal.Status.ACHIEVED]
    )
    return [
        Goal(resident=resident, text=text, status=rng.choice(statuses), created_at=midday(resident.intervention_start), created_by=resident.key_worker)
        for text in rng.sample(GOALS, rng.randint(1, 3))
    ]


def plan_interventions(resident: Resident, rng: random.Random, interventions: list[Intervention]) -> list[PlannedIntervention]:
    if not resident.intervention_start:
        return []
    return [
        PlannedIntervention(resident=resident, intervention=chosen, chosen_at=midday(resident.intervention_start), chosen_by=resident.key_worker)
        for chosen in rng.sample(interventions, rng.randint(1, 3))
    ]


def poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: fine for the small monthly means used here."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


@dataclass(frozen=True)
class Need:
    """What drives a demo resident's use, drawn from their NHS number alone so that the caseload's
    service use and the population extract's look-alikes (seed_population) share it: how heavy
    a user they are, the spell of heavier use they were referred at (it began `spell_lead` months
    before the month of the referral and lasts `spell_months`, `spell_strength` times their usual
    use, and passes by itself), and how the team's work changes their use once it starts."""

    heaviness: float
    spell_lead: int
    spell_months: int
    spell_strength: float
    improves: bool
    worsens: bool

    def after_start(self, kind: str) -> float:
        return AFTER_START[kind] if self.improves else (1.15 if self.worsens else 1.0)


def spell_at_referral(rng: random.Random) -> tuple[int, int, float]:
    """A spell of heavier use that the referral falls in: it began one to four months before the
    referral's month and ends in that month or the next (the population's spells are as strong
    and last two to six months)."""
    lead = rng.randint(1, 4)
    return lead, max(2, lead + rng.randint(1, 2)), rng.uniform(1.8, 3.0)


def resident_need(nhs_number: str) -> Need:
    rng = random.Random(f"{SEED}:{nhs_number}")
    heaviness = rng.lognormvariate(0.2, 0.45)
    lead, months, strength = spell_at_referral(rng)
    improves = rng.random() < 0.75
    return Need(heaviness, lead, months, strength, improves, not improves and rng.random() < 0.3)


def in_spell(kind: str, strength: float) -> float:
    """A spell is mostly falls, exacerbations and crises: emergency contacts (A&E, emergency
    admissions, ambulance call-outs) rise twice as much as the rest, which is what puts people
    on the frequent-attender lists INTs are referred from."""
    return 1 + SPELL_EMERGENCY * (strength - 1) if kind in EMERGENCY_KINDS else strength


def spell_factor(month: datetime.date, referral_month: datetime.date, lead: int, months: int, strength: float) -> float:
    begins = add_months_to(referral_month, -lead)
    return strength if begins <= month < add_months_to(begins, months) else 1.0


def service_history(resident: Resident, key: str, rng: random.Random, today: datetime.date) -> list[ServiceUseEvent]:
    """Two years of contacts, calendar month by calendar month (as the population extract counts
    them): a heavy user's usual use, a spell of heavier use around the referral that passes by
    itself (regression to the mean), and, from the day the intervention starts, the team's effect
    for three residents in four (`AFTER_START`: about 10 % fewer A&E attendances on average)."""
    need = resident_need(resident.nhs_number)
    start = resident.intervention_start
    referral_month = resident.referral_date.replace(day=1)
    events: list[ServiceUseEvent] = []
    # Two years back, and always the whole year before the referral, so "before" is complete.
    first = min(today - datetime.timedelta(days=HISTORY_DAYS), resident.referral_date - datetime.timedelta(days=400))
    month = first.replace(day=1)
    while month <= today:
        following = add_months_to(month, 1)
        spell = spell_factor(month, referral_month, need.spell_lead, need.spell_months, need.spell_strength)
        # The month's days before the start, and those from it on (with the team's effect).
        split = following if start is None or start >= following else max(start, month)
        parts = ((month, split, False), (split, following, True))
        for part_from, part_to, treated in parts:
            days = (part_to - part_from).days
            if days <= 0:
                continue
            share = days / (following - month).days
            for kind, rate in MONTHLY_USE.items():
                factor = need.after_start(kind) if treated else 1.0
                for _ in range(poisson(rng, rate * need.heaviness * in_spell(kind, spell) * factor * share)):
                    day = part_from + datetime.timedelta(days=rng.randrange(days))
                    if day > today:
                        continue
                    events.append(
                        ServiceUseEvent(
                            resident=resident, date=day, kind=kind, source=SOURCES[kind], source_id=f"DEMO-{key}-{len(events)}"
                        )
                    )
        month = following
    return events


# --- the population extract ------------------------------------------------------------------------

POPULATION_SEED = 2026_12_07
POPULATION_PEOPLE_PER_TEAM = 15_000
POPULATION_MONTHS = 27
AGE_BAND_YEARS = 10  # as kpis.matching.AGE_BAND_YEARS, which this layer cannot import
# A registered person's contacts a month, at a typical adult's level of need.
POPULATION_MONTHLY_USE: dict[str, float] = {
    Kind.PRIMARY_CARE_APPOINTMENT: 0.40,
    Kind.AE_ATTENDANCE: 0.030,
    Kind.EMERGENCY_ADMISSION: 0.010,
    Kind.AMBULANCE_CALLOUT: 0.015,
    Kind.NHS_111_CALL: 0.030,
    Kind.SOCIAL_CARE_CONTACT: 0.020,
    Kind.COMMUNITY_HEALTH_CONTACT: 0.050,
    Kind.MENTAL_HEALTH_CONTACT: 0.020,
}
MALE_NAMES = frozenset({"Joseph", "Winston", "Stanislaw", "Abdul", "Clifford", "Delroy", "Mohammed", "Leroy", "Rashid", "Desmond", "Tariq", "Vernon"})


def seed_population(stdout) -> str:
    """A population extract for each demo team, loaded through the importer: about 15,000 registered
    people a team over 27 months, and every demo resident with exactly the contacts their service
    use holds. People have spells of heavier use that pass by themselves; residents were referred
    in one (so part of their fall is regression to the mean), and for each supported resident the
    extract holds a few people like them whose use peaked at the same time and whom nobody
    referred (`look_alike_rows`): the people a matched comparison needs to find. Only the
    residents' own contacts carry the team's effect (`AFTER_START`: about 10 % fewer A&E
    attendances than they would have had)."""
    from .models import PopulationExtract
    from .population import population_load_unchecked

    if PopulationExtract.objects.exists():
        return "Population extracts already loaded."
    rng = random.Random(POPULATION_SEED)
    last = timezone.localdate().replace(day=1) - datetime.timedelta(days=1)
    months = [add_months_to(last.replace(day=1), -back) for back in reversed(range(POPULATION_MONTHS))]
    loaded = []
    for team_number, team in enumerate(Team.objects.filter(slug__in=["east", "west"]).order_by("slug")):
        rows = (
            resident_extract_rows(team, months)
            + population_rows(team, team_number, rng, months)
            + look_alike_rows(team, team_number, rng, months)
        )
        extract = population_load_unchecked(team=team, rows=rows, file_name=f"population-{team.slug}-demo.csv")
        loaded.append(f"{team.name} {extract.people:,} people, {extract.rows_loaded:,} rows")
    return "Population extracts: " + "; ".join(loaded) + "."


def add_months_to(month: datetime.date, months: int) -> datetime.date:
    from .models import add_months

    return add_months(month, months)


def resident_extract_rows(team: Team, months: list[datetime.date]) -> list[tuple]:
    """Each demo resident (once per NHS number) as the extract holds them: their practice, year of
    birth and the contacts of their service use, month by month."""
    from django.db.models import Count
    from django.db.models.functions import TruncMonth

    people = {}
    for resident in Resident.objects.filter(team=team).order_by("referral_date", "pk").select_related("practice"):
        people.setdefault(
            resident.nhs_number,
            (resident.practice_id, resident.date_of_birth.year, "M" if resident.given_name in MALE_NAMES else "F"),
        )
    counts = (
        ServiceUseEvent.objects.filter(resident__team=team, date__gte=months[0], date__lt=add_months_to(months[-1], 1))
        .annotate(month=TruncMonth("date"))
        .order_by()
        .values_list("resident__nhs_number", "month", "kind")
        .annotate(n=Count("*"))
    )
    return [(nhs_number, *people[nhs_number], month, kind, n) for nhs_number, month, kind, n in counts]


def population_rows(team: Team, team_number: int, rng: random.Random, months: list[datetime.date]) -> list[tuple]:
    """Registered people who are not residents: need grows with age, a few are frail, and anyone
    may have a spell of two to six months of heavier use that passes."""
    practices = list(team.practices.order_by("ods_code").values_list("pk", flat=True))
    kinds = list(POPULATION_MONTHLY_USE)
    weights = [POPULATION_MONTHLY_USE[kind] for kind in kinds]
    this_year = months[-1].year
    lines = []
    for index in range(POPULATION_PEOPLE_PER_TEAM):
        nhs_number = population_nhs_number(team_number, index)
        age = min(int(rng.triangular(0, 100, 45)), 99)
        sex = "F" if rng.random() < 0.51 else ("M" if rng.random() < 0.99 else "U")
        need = rng.lognormvariate(-0.4, 0.7) * (0.6 + (age / 45) ** 2)
        if rng.random() < 0.04:
            need *= 6  # frail: as heavy as the people INTs support
        practice = practices[index % len(practices)]
        spell_left, spell = 0, 1.0
        for month in months:
            if spell_left == 0 and rng.random() < 0.02:
                spell_left, spell = rng.randint(2, 6), rng.uniform(1.8, 3.0)
            month_weights = [weight * in_spell(kind, spell if spell_left else 1.0) for kind, weight in zip(kinds, weights, strict=True)]
            rate = sum(month_weights) * need
            if spell_left:
                spell_left -= 1
            total = poisson(rng, rate) if rate < 30 else round(rng.gauss(rate, rate**0.5))
            if total <= 0:
                continue
            tally: dict[str, int] = {}
            for kind in rng.choices(kinds, weights=month_weights, k=total):
                tally[kind] = tally.get(kind, 0) + 1
            born = this_year - age
            lines.extend((nhs_number, practice, born, sex, month, kind, n) for kind, n in tally.items())
    return lines


# Registered people a supported resident has in the extract who were in a spell of heavier use at
# the same time and were not referred: the team refers some of the people at a peak, not all.
LOOK_ALIKES = 20


def look_alike_rows(team: Team, team_number: int, rng: random.Random, months: list[datetime.date]) -> list[tuple]:
    """For each supported resident (once per NHS number), LOOK_ALIKES registered people of their
    practice, sex and 10-year age band at the start, with about their level of need and mix of
    contacts (`MONTHLY_USE`), and a spell of heavier use drawn as the resident's was, around the
    month the resident was referred; nobody referred them, and their spells pass by themselves.
    Without them the extract's heavy users are the population's frail, whose use neither peaks
    with the residents' nor leans to emergencies as theirs does, and the matching cannot balance."""
    residents = (
        Resident.objects.filter(team=team, intervention_start__isnull=False)
        .order_by("referral_date", "pk")
        .values_list("nhs_number", "practice_id", "date_of_birth", "given_name", "referral_date", "intervention_start")
    )
    seen: set[str] = set()
    lines = []
    index = POPULATION_PEOPLE_PER_TEAM
    for nhs_number, practice, born_on, given_name, referral_date, start in residents:
        if nhs_number in seen:
            continue
        seen.add(nhs_number)
        need = resident_need(nhs_number)
        sex = "M" if given_name in MALE_NAMES else "F"
        # Years of birth that keep the 10-year age band the resident had at the start.
        band = (start.year - born_on.year) // AGE_BAND_YEARS * AGE_BAND_YEARS
        years = range(max(born_on.year - 2, start.year - band - AGE_BAND_YEARS + 1), min(born_on.year + 2, start.year - band) + 1)
        referral_month = referral_date.replace(day=1)
        for _ in range(LOOK_ALIKES):
            look_alike = population_nhs_number(team_number, index)
            index += 1
            born = rng.choice(years)
            heaviness = need.heaviness * rng.lognormvariate(0, 0.1)
            strength = need.spell_strength * rng.uniform(0.9, 1.1)
            for month in months:
                spell = spell_factor(month, referral_month, need.spell_lead, need.spell_months, strength)
                for kind, rate in MONTHLY_USE.items():
                    contacts = poisson(rng, rate * heaviness * in_spell(kind, spell))
                    if contacts:
                        lines.append((look_alike, practice, born, sex, month, kind, contacts))
    return lines


def population_nhs_number(team_number: int, index: int) -> str:
    """Valid numbers in a range of their own (9 993 ..., 9 996 ...), apart from the residents'."""
    stem = 999_300_000 + team_number * 300_000 + index * 11
    while nhs_number_check_digit(f"{stem:09d}") is None:
        stem += 1
    return f"{stem:09d}{nhs_number_check_digit(f'{stem:09d}')}"
