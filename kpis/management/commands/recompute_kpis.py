"""Recompute the KPIs now, in the foreground: the same work as the nightly Celery task."""

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Sum

from kpis.compute import kpis_recompute
from kpis.models import Cohort, KpiRun, KpiValue, Level, Measure


class Command(BaseCommand):
    help = "Recompute every KPI into a new run and make it current (full unless --incremental)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--incremental",
            action="store_true",
            help="Recount only residents with new service use or a changed window since the current run.",
        )

    def handle(self, *args, **options) -> None:
        try:
            run = kpis_recompute(full=not options["incremental"])
        except Exception as error:
            failed = KpiRun.objects.order_by("-pk").first()
            raise CommandError(f"KPI run {failed.pk if failed else '?'} failed: {error}. The previous run stays current.") from error
        places = KpiValue.objects.filter(run=run, level=Level.PLACE, cohort=Cohort.INTERVENTION, period=None)
        counted = places.filter(measure=Measure.SERVICE_USE, kind="all").aggregate(n=Sum("n"))["n"] or 0
        in_progress = places.filter(measure=Measure.IN_PROGRESS).aggregate(n=Sum("n"))["n"] or 0
        self.stdout.write(
            self.style.SUCCESS(
                f"KPI run {run.pk} succeeded ({run.get_mode_display().lower()}) in {run.duration.total_seconds():.2f} s: "
                f"{run.rows} rows, {run.residents_recounted} residents recounted, as of {run.as_of:%Y-%m-%d}. "
                f"Supported residents counted: {counted}; {in_progress} in progress."
            )
        )
