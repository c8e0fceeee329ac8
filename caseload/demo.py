"""Demo data for the caseload feature, seeded by `manage.py seed_demo` after the organisation.

About 120 residents per demo team in every state of the journey, a directory of interventions,
support plans, and two years of service use: mostly heavy users, most of whom use services less
after their intervention starts (as in the pilot: about a third fewer GP appointments, 15% fewer
A&E attendances), some not. Deterministic (one seeded random generator, dates relative to today)
and idempotent (it does nothing once residents exist)."""

from __future__ import annotations

import datetime
import math
import random
from dataclasses import dataclass

from django.utils import timezone

from int_app.teams.models import Team, User
from int_app.teams.roles import Role

from .models import Goal, Intervention, PlannedIntervention, Resident, ResidentEvent, ServiceUseEvent
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
# After the intervention starts, for most residents (the pilot's headline figures and a guess
# for the rest); a quarter of residents do not improve, and some use more.
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


def service_history(resident: Resident, key: str, rng: random.Random, today: datetime.date) -> list[ServiceUseEvent]:
    """Two years of contacts, month by month: heavier users mostly, and less use after the
    intervention start for three residents in four."""
    heaviness = rng.lognormvariate(0.2, 0.45)
    improves = rng.random() < 0.75
    worsens = not improves and rng.random() < 0.3
    start = resident.intervention_start
    events: list[ServiceUseEvent] = []
    # Two years back, and always the whole year before the referral, so "before" is complete.
    first = min(today - datetime.timedelta(days=HISTORY_DAYS), resident.referral_date - datetime.timedelta(days=400))
    for month in range((today - first).days // 30 + 1):
        month_start = first + datetime.timedelta(days=30 * month)
        after = start is not None and month_start >= start
        # Use climbs in the months before a referral: what gets people referred.
        closeness = min(1.0, max(0.0, 1 - (resident.referral_date - month_start).days / 180))
        lead_up = 1.0 if after else 1.0 + 0.5 * closeness
        for kind, rate in MONTHLY_USE.items():
            factor = AFTER_START[kind] if after and improves else (1.15 if after and worsens else 1.0)
            for _ in range(poisson(rng, rate * heaviness * lead_up * factor)):
                day = month_start + datetime.timedelta(days=rng.randint(0, 29))
                if day > today:
                    continue
                events.append(
                    ServiceUseEvent(
                        resident=resident, date=day, kind=kind, source=SOURCES[kind], source_id=f"DEMO-{key}-{len(events)}"
                    )
                )
    return events


# --- the population extract ------------------------------------------------------------------------

POPULATION_SEED = 2026_12_07
POPULATION_PEOPLE_PER_TEAM = 15_000
POPULATION_MONTHS = 27
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
    use holds. People have spells of heavier use that pass by themselves (what gets residents
    referred at a peak, so part of their fall is regression to the mean); the residents' own
    contacts carry the team's effect (caseload.demo.AFTER_START: about 10 % fewer A&E attendances
    than they would have had)."""
    from .models import PopulationExtract
    from .population import population_load_unchecked

    if PopulationExtract.objects.exists():
        return "Population extracts already loaded."
    rng = random.Random(POPULATION_SEED)
    last = timezone.localdate().replace(day=1) - datetime.timedelta(days=1)
    months = [add_months_to(last.replace(day=1), -back) for back in reversed(range(POPULATION_MONTHS))]
    loaded = []
    for team_number, team in enumerate(Team.objects.filter(slug__in=["east", "west"]).order_by("slug")):
        rows = resident_extract_rows(team, months) + population_rows(team, team_number, rng, months)
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
    base_rate = sum(weights)
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
            rate = base_rate * need * (spell if spell_left else 1.0)
            if spell_left:
                spell_left -= 1
            total = poisson(rng, rate) if rate < 30 else round(rng.gauss(rate, rate**0.5))
            if total <= 0:
                continue
            tally: dict[str, int] = {}
            for kind in rng.choices(kinds, weights=weights, k=total):
                tally[kind] = tally.get(kind, 0) + 1
            born = this_year - age
            lines.extend((nhs_number, practice, born, sex, month, kind, n) for kind, n in tally.items())
    return lines


def population_nhs_number(team_number: int, index: int) -> str:
    """Valid numbers in a range of their own (9 993 ..., 9 996 ...), apart from the residents'."""
    stem = 999_300_000 + team_number * 300_000 + index * 11
    while nhs_number_check_digit(f"{stem:09d}") is None:
        stem += 1
    return f"{stem:09d}{nhs_number_check_digit(f'{stem:09d}')}"
