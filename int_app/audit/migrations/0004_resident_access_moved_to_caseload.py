# The access log now belongs to the caseload (its migration 0006 takes the model over with the
# same table and trigger). Only Django's state forgets it here: nothing in the database changes.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0003_pressure_report_change_follows_the_pressure_app'),
        ('caseload', '0006_resident_access_moved_from_audit'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(
                    model_name='residentaccess',
                    name='resident_access_when',
                ),
                migrations.DeleteModel(
                    name='ResidentAccess',
                ),
            ],
            database_operations=[],
        ),
    ]
