# The access log moves from the audit app to the caseload (the layer that owns residents) without
# touching the database: the table keeps its name (db_table) and its append-only trigger keeps the
# name it was installed under (caseload.models.InstalledAs). Only Django's state changes here; the
# audit app forgets the model in its migration 0003.

import django.db.models.deletion
import django.utils.timezone
import pgtrigger.compiler
import pgtrigger.migrations
from django.conf import settings
from django.db import migrations, models


def content_type_follows(apps, schema_editor) -> None:
    # Permissions granted on "resident access" stay granted: its content type changes app rather
    # than a new one being made beside it.
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="caseload", model="residentaccess").exists():
        ContentType.objects.filter(app_label="audit", model="residentaccess").update(app_label="caseload")


def content_type_goes_back(apps, schema_editor) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="audit", model="residentaccess").exists():
        ContentType.objects.filter(app_label="caseload", model="residentaccess").update(app_label="audit")


class Migration(migrations.Migration):

    dependencies = [
        ('caseload', '0005_resident_last_contact_at'),
        ('audit', '0002_meeting_series_name_single_line'),
        ('contenttypes', '0002_remove_content_type_name'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='ResidentAccess',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('page', models.CharField(choices=[('resident', 'Resident page'), ('export', 'Export'), ('information_pack', 'Agenda information pack')], max_length=30)),
                        ('path', models.CharField(max_length=300)),
                        ('at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                        ('request_id', models.CharField(blank=True, max_length=64)),
                        ('resident', models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='accesses', to='caseload.resident')),
                        ('user', models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'audit_residentaccess',
                        'ordering': ['-at'],
                        'indexes': [models.Index(fields=['resident', 'at'], name='resident_access_when')],
                    },
                ),
                pgtrigger.migrations.AddTrigger(
                    model_name='residentaccess',
                    trigger=pgtrigger.compiler.Trigger(name='append_only', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;", hash='c7939011bf2775fea7a4f98e1c2d0773176d7103', operation='UPDATE OR DELETE', pgid='pgtrigger_append_only_83ff2', table='audit_residentaccess', when='BEFORE')),
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_type_follows, content_type_goes_back, elidable=True),
    ]
