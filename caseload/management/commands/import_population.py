"""Load a team's population extract from the command line, with the same checks as the upload
page: `python manage.py import_population FILE --team SLUG`. A new extract for the team replaces
the one before it once it has loaded whole."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from caseload.models import PopulationExtract
from caseload.population import POPULATION_COLUMNS, population_extract_create
from int_app.teams.models import Team

UPLOAD_CHUNK_BYTES = 1024 * 1024


class Command(BaseCommand):
    help = f"Import a team's population extract from a CSV file ({','.join(POPULATION_COLUMNS)}). All rows or none."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--team", dest="team", required=True, metavar="SLUG", help="The team whose practices the extract covers.")

    def handle(self, *args, file: Path, team: str, **options) -> None:
        if not file.is_file():
            raise CommandError(f"No file at {file}.")
        chosen = Team.objects.filter(slug=team).first()
        if chosen is None:
            raise CommandError(f"No team with the slug {team}.")
        with file.open("rb") as extract_file:
            chunks = iter(lambda: extract_file.read(UPLOAD_CHUNK_BYTES), b"")
            extract = population_extract_create(content=chunks, file_name=file.name, team=chosen, by=None, background=False)
        if extract.status == PopulationExtract.Status.DONE:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Loaded {extract.file_name} for {chosen.name}: {extract.people:,} people, {extract.rows_loaded:,} rows, "
                    f"{extract.first_month:%B %Y} to {extract.last_month:%B %Y} (extract {extract.pk}, now current)."
                )
            )
            return
        for error in extract.errors:
            self.stderr.write(f"line {error['line']}: {error['message']}")
        if extract.more_errors:
            self.stderr.write(f"... and {extract.more_errors} more.")
        raise CommandError(f"Nothing was loaded from {extract.file_name}: {extract.error_count} problem(s) (extract {extract.pk}).")
