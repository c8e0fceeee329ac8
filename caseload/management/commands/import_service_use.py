"""Load a service-use extract from the command line, with the same checks as the upload page.

Residents are matched within teams, so the command must be told whose: `--as EMAIL` imports as
that coordinator (their teams; the import is recorded as theirs), `--team SLUG` (repeatable)
names the teams for a scheduled load with no person behind it."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from caseload.models import ImportJob
from caseload.services import import_job_create
from int_app.teams.models import Team, User
from int_app.teams.roles import Right

# Read and stored a megabyte at a time, as an upload arrives in chunks.
UPLOAD_CHUNK_BYTES = 1024 * 1024


class Command(BaseCommand):
    help = "Import service use from a CSV file (nhs_number,date,kind,source,source_id). All rows or none."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)
        whose = parser.add_mutually_exclusive_group(required=True)
        whose.add_argument("--as", dest="email", help="Import as this coordinator, into the teams they coordinate.")
        whose.add_argument("--team", dest="teams", action="append", metavar="SLUG", help="Import into this team (repeatable).")

    def handle(self, *args, file: Path, email: str | None, teams: list[str] | None, **options) -> None:
        if not file.is_file():
            raise CommandError(f"No file at {file}.")
        user, chosen = self.whose(email, teams or [])
        # Run here and now rather than on a worker: the command is already outside any web request.
        with file.open("rb") as extract:
            chunks = iter(lambda: extract.read(UPLOAD_CHUNK_BYTES), b"")
            job = import_job_create(content=chunks, file_name=file.name, teams=chosen, by=user, background=False)
        self.report(job)

    def whose(self, email: str | None, slugs: list[str]) -> tuple[User | None, list[Team]]:
        if email:
            user = User.objects.filter(email__iexact=email, is_active=True).first()
            if user is None:
                raise CommandError(f"No active account has the email {email}.")
            teams = list(Team.objects.with_right(user, Right.IMPORT_SERVICE_USE))
            if not teams:
                raise CommandError(f"{email} does not coordinate any team, so has no residents to match.")
            return user, teams
        teams = list(Team.objects.filter(slug__in=slugs))
        unknown = sorted(set(slugs) - {team.slug for team in teams})
        if unknown:
            raise CommandError(f"No team with the slug {', '.join(unknown)}.")
        return None, teams

    def report(self, job: ImportJob) -> None:
        if job.status == ImportJob.Status.DONE:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Loaded {job.file_name}: {job.rows_total} rows checked, {job.rows_loaded} new, "
                    f"{job.rows_already_loaded} already loaded (import {job.pk})."
                )
            )
            return
        for error in job.errors:
            self.stderr.write(f"line {error['line']}: {error['message']}")
        if job.more_errors:
            self.stderr.write(f"... and {job.more_errors} more.")
        raise CommandError(f"Nothing was loaded from {job.file_name}: {job.error_count} row(s) have problems (import {job.pk}).")
