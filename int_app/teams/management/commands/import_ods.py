"""Load the area's GP practices and PCNs from the ODS files, with the same checks as the admin's
"Import from the ODS" page (int_app/teams/ods.py, ADR 0011)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from int_app.teams.ods import ImportRejected, OdsReport, import_ods


class Command(BaseCommand):
    help = (
        "Load GP practices and PCNs from the ODS practices file (epraccur.csv) and PCN core-partner file "
        "(epcncorepartnerdetails.csv). All rows or none; --dry-run says what would change."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("practices_file", type=Path, help="epraccur.csv")
        parser.add_argument("pcn_file", type=Path, help="epcncorepartnerdetails.csv, or the ePCN sheet saved as CSV")
        parser.add_argument(
            "--sub-icb", dest="sub_icb_codes", action="append", metavar="CODE",
            help="A sub-ICB location whose practices are this area's (repeatable); default: the codes set on the places.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Say what would change; write nothing.")

    def handle(self, *args, practices_file: Path, pcn_file: Path, sub_icb_codes: list[str] | None, dry_run: bool, **options) -> None:
        for path in (practices_file, pcn_file):
            if not path.is_file():
                raise CommandError(f"No file at {path}.")
        try:
            report = import_ods(practices_file.read_bytes(), pcn_file.read_bytes(), sub_icb_codes=sub_icb_codes, dry_run=dry_run)
        except ImportRejected as rejected:
            for problem in rejected.problems:
                self.stderr.write(problem)
            raise CommandError("Nothing was loaded: correct the file and run the import again.") from None
        self.print_report(report)

    def print_report(self, report: OdsReport) -> None:
        heading = "Dry run, nothing written. Would load" if report.dry_run else "Loaded"
        self.stdout.write(f"{heading} for sub-ICB locations {', '.join(report.area)}: {report.summary()}.")
        for label, lines in report.sections():
            self.stdout.write(f"{label[0].upper()}{label[1:]}:")
            for line in lines:
                self.stdout.write(f"  {line}")
