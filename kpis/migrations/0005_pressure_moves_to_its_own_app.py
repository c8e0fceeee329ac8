"""Practice pressure's models leave kpis for the pressure app (its 0001), keeping their tables.

The old history triggers on the report are dropped here, after pressure 0001 has installed the
same triggers under the pressure app's names. The models leave kpis' state only, after the audit
copies point at the pressure app's report (audit 0003); no table is dropped."""

import pgtrigger.migrations
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("kpis", "0004_dates_within_bounds"),
        ("pressure", "0001_initial"),
        ("audit", "0003_pressure_report_change_follows_the_pressure_app"),
    ]

    operations = [
        pgtrigger.migrations.RemoveTrigger(model_name="pressurereport", name="insert_insert"),
        pgtrigger.migrations.RemoveTrigger(model_name="pressurereport", name="update_update"),
        pgtrigger.migrations.RemoveTrigger(model_name="pressurereport", name="delete_delete"),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="PressureReportChange"),
                migrations.DeleteModel(name="PressureAlert"),
                migrations.DeleteModel(name="PressureReport"),
            ],
        ),
    ]
