"""What the KPIs do when a layer below announces something (ADR 0008): wired in `KpisConfig.ready()`."""

from __future__ import annotations

from caseload.models import ImportJob, Resident
from caseload.records import resident_retired
from caseload.signals import population_extract_loaded, service_use_imported
from int_app.teams.models import Team

from .models import MatchedEpisode, ResidentMatch
from .tasks import recompute_kpis


def recompute_after_import(sender, job: ImportJob, teams: list[Team], **kwargs) -> None:
    """New service use changes the figures. The signal comes after the load committed, so the task
    is queued now; full=False recounts only the residents the new rows touch, whichever team."""
    recompute_kpis.delay(full=False)


def recompute_after_extract(sender, extract, team: Team, **kwargs) -> None:
    """A new population extract changes who the supported residents are compared with: the run
    searches for everyone's comparison people again (a new version changes every fingerprint)."""
    recompute_kpis.delay(full=False)


def forget_retired_episode(sender, resident: Resident, **kwargs) -> None:
    """The matched comparison's copy of the retired resident's episode goes with their NHS number
    (ADR 0018). Their person in an extract may now be anyone's comparison, and with their number
    gone a run can no longer tell whose: every stored match is dropped, so the next run searches
    for everyone, as a full run does (retirements come once a month)."""
    MatchedEpisode.objects.filter(resident=resident).delete()
    ResidentMatch.objects.all().delete()


def connect() -> None:
    service_use_imported.connect(recompute_after_import, dispatch_uid="kpis.recompute_after_import")
    population_extract_loaded.connect(recompute_after_extract, dispatch_uid="kpis.recompute_after_extract")
    resident_retired.connect(forget_retired_episode, dispatch_uid="kpis.forget_retired_episode")
