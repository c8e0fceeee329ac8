"""The audit copies of pressure reports point at the report in its new app. State only: the key
has no database constraint (db_constraint=False), and the column and its table stay as they are."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0002_meeting_series_name_single_line"),
        ("pressure", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="pressurereportchange",
                    name="pgh_obj",
                    field=models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="audit_changes",
                        to="pressure.pressurereport",
                    ),
                ),
            ],
        ),
    ]
