from int_app.celery import TRANSIENT_ERRORS, durable_task

from .models import ImportJob
from .records import retire_due_records as retire_every_due_record
from .records import subject_access_bundle_produce
from .services import service_use_import


@durable_task
def import_service_use(job_id: int) -> str:
    """Check and load one uploaded service-use file. Safe to run twice: see service_use_import."""
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None:
        return "missing"
    return service_use_import(job=job, retry_on=TRANSIENT_ERRORS).status


@durable_task
def forget_old_population(team_id: int) -> int:
    """Delete the people, and with them the contacts, of a team's population extracts that are no
    longer current, after a load. Safe to run twice: a version deleted is not found again."""
    from int_app.teams.models import Team

    from .population import population_forget_old

    team = Team.objects.filter(pk=team_id).first()
    return population_forget_old(team) if team is not None else 0


@durable_task
def retire_due_records() -> int:
    """Monthly (CELERY_BEAT_SCHEDULE): remove the personal details of every closed record whose
    retention period has ended. Idempotent: a retired record is never due again."""
    return len(retire_every_due_record())


@durable_task
def produce_subject_access_bundle(request_id: int) -> bool:
    """Draw a subject access bundle (PDF and JSON) and keep it for the coordinator to download.
    Safe to run twice: a bundle drawn since it was asked for is not drawn again."""
    return subject_access_bundle_produce(request_id=request_id)


@durable_task
def import_population(extract_id: int) -> str:
    """Check and load one uploaded population extract. Safe to run twice: see population_import."""
    from .models import PopulationExtract
    from .population import population_import

    extract = PopulationExtract.objects.filter(pk=extract_id).select_related("team").first()
    if extract is None:
        return "missing"
    return population_import(extract=extract, retry_on=TRANSIENT_ERRORS).status
