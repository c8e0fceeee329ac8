from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from int_app.celery import durable_task
from int_app.teams.mail import email_send

from .models import PressureAlert


@durable_task
def email_pressure_alert(alert_id: int) -> int:
    """Email the PCN leads of the practice's PCN. Idempotent: a sent alert is not sent again."""
    from .pressure import pcn_leads_for

    alert = PressureAlert.objects.select_related("report__practice__pcn").filter(pk=alert_id).first()
    if alert is None or alert.emailed_at is not None:
        return 0
    practice = alert.report.practice
    recipients = list(pcn_leads_for(practice).values_list("email", flat=True))
    if recipients:
        email_send(
            subject=f"Practice pressure: {practice.name} is at level {alert.level} ({alert.label})",
            body=(
                f"{practice.name} ({practice.ods_code}, {practice.pcn.name}) reported level {alert.level}, "
                f"{alert.label}, for the week of {alert.report.week_start:%d %B %Y}.\n\n"
                f"Comment: {alert.report.comment or 'none'}\n\n"
                f"Open the heatmap to see the report and acknowledge the alert: "
                f"{settings.INT_SITE_URL.rstrip('/')}{reverse('kpis:pressure_report_detail', args=[alert.report_id])}"
            ),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=recipients,
        )
    PressureAlert.objects.filter(pk=alert.pk, emailed_at__isnull=True).update(emailed_at=timezone.now())
    return len(recipients)


@durable_task
def recompute_kpis(full: bool = True) -> dict:
    """The nightly full recompute, and the one each import enqueues (full=False: only residents
    with new service use or a changed window are recounted). Idempotent: running it again gives
    the same figures; a worker lost part-way leaves the previous run current."""
    from .compute import kpis_recompute

    run = kpis_recompute(full=full)
    return {"run": run.pk, "mode": run.mode, "rows": run.rows}


@durable_task
def prune_kpi_runs() -> int:
    """Keep the newest runs only (nightly, by beat): older ones are history nobody reads."""
    from .compute import prune_old_runs

    return prune_old_runs()
