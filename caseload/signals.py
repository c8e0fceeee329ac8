"""What the caseload announces to the layers above it (STYLE rule 13, ADR 0008). The caseload never
imports them: a higher app connects a receiver in its `AppConfig.ready()`."""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

from .models import ImportJob

# Sent once a service-use import that added events has committed, with `job` (the ImportJob) and
# `teams` (the teams whose residents it matched). Receivers run after the commit, so they see the
# new rows and a receiver's failure cannot undo the load.
service_use_imported = Signal()


def announce_service_use_imported(job: ImportJob) -> None:
    """Call inside the transaction that loads the events: the signal goes only if it commits."""
    teams = list(job.teams.all())
    transaction.on_commit(lambda: service_use_imported.send(sender=ImportJob, job=job, teams=teams))


# Sent with `resident` once a restriction of their record has committed: the layers above stop
# using the record (meetings takes it off the agendas still being built).
resident_restricted = Signal()


def announce_resident_restricted(resident) -> None:
    transaction.on_commit(lambda: resident_restricted.send(sender=type(resident), resident=resident))


# Sent once a population extract has been loaded and made its team's current extract, with
# `extract` (the PopulationExtract) and `team`; after the commit, like the one above.
population_extract_loaded = Signal()


def announce_population_extract_loaded(extract, team) -> None:
    """Call inside the transaction that makes the extract current."""
    transaction.on_commit(lambda: population_extract_loaded.send(sender=type(extract), extract=extract, team=team))
