"""Fill each practice's list size from NHS England's "Patients registered at a GP practice" CSV,
with the same checks as the admin's import page (int_app/teams/ods.py)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from int_app.teams.ods import ImportRejected, import_list_sizes


class Command(BaseCommand):
    help = (
        "Load practice list sizes from NHS England's \"Patients registered at a GP practice\" CSV "
        "(ORG_CODE, NUMBER_OF_PATIENTS, EXTRACT_DATE). All rows or none; practices not ours are skipped."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path, help="e.g. gp-reg-pat-prac-all.csv")
        parser.add_argument("--dry-run", action="store_true", help="Say what would change; write nothing.")

    def handle(self, *args, file: Path, dry_run: bool, **options) -> None:
        if not file.is_file():
            raise CommandError(f"No file at {file}.")
        try:
            report = import_list_sizes(file.read_bytes(), dry_run=dry_run)
        except ImportRejected as rejected:
            for problem in rejected.problems:
                self.stderr.write(problem)
            raise CommandError("Nothing was loaded: correct the file and run the import again.") from None
        self.stdout.write(("Dry run, nothing written. Would load: " if dry_run else "Loaded: ") + report.summary() + ".")
        for line in report.updated:
            self.stdout.write(f"  {line}")
