"""Practice pressure becomes an app of its own, with the tables the kpis app made.

No row moves: the models enter this app's state only (their db_table names the kpis tables), and
kpis 0005 takes them out of kpis' state. What does change in the database are the history triggers
pghistory puts on the report: pgtrigger names a trigger after its model's app, so they are
installed here under their new names before kpis 0005 drops the old ones, so the table is never
without them. The content types follow the models, so permissions and admin history keep pointing
at them."""

import datetime
import django.db.models.deletion
import django.utils.timezone
import pgtrigger.compiler
import pgtrigger.migrations
from django.conf import settings
from django.db import migrations, models


# Models that were kpis' and are this app's now (content types are keyed by app and model name).
MOVED_MODELS = ("pressurereport", "pressurereportchange", "pressurealert")


def content_types_follow(from_app: str, to_app: str):
    def move(apps, schema_editor) -> None:
        content_types = apps.get_model("contenttypes", "ContentType")
        taken = set(content_types.objects.filter(app_label=to_app, model__in=MOVED_MODELS).values_list("model", flat=True))
        content_types.objects.filter(app_label=from_app, model__in=set(MOVED_MODELS) - taken).update(app_label=to_app)

    return move


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("kpis", "0004_dates_within_bounds"),
        ("teams", "0004_names_single_line"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='PressureReport',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('week_start', models.DateField(help_text='The Monday of the week reported on.')),
                        ('level', models.PositiveSmallIntegerField()),
                        ('comment', models.TextField(blank=True)),
                        ('same_day_appointments_available', models.PositiveIntegerField(blank=True, null=True)),
                        ('clinical_staff_absent', models.PositiveIntegerField(blank=True, null=True)),
                        ('reported_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('updated_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('version', models.PositiveIntegerField(default=1)),
                        ('practice', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='pressure_reports', to='teams.practice')),
                        ('reported_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'kpis_pressurereport',
                        'ordering': ['-week_start', 'practice__name'],
                    },
                ),
                migrations.CreateModel(
                    name='PressureAlert',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('level', models.PositiveSmallIntegerField()),
                        ('raised_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('emailed_at', models.DateTimeField(blank=True, null=True)),
                        ('acknowledged_at', models.DateTimeField(blank=True, null=True)),
                        ('acknowledged_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('report', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='alerts', to='pressure.pressurereport')),
                    ],
                    options={
                        'db_table': 'kpis_pressurealert',
                        'ordering': ['-raised_at'],
                    },
                ),
                migrations.CreateModel(
                    name='PressureReportChange',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('level', models.PositiveSmallIntegerField()),
                        ('comment', models.TextField(blank=True)),
                        ('same_day_appointments_available', models.PositiveIntegerField(blank=True, null=True)),
                        ('clinical_staff_absent', models.PositiveIntegerField(blank=True, null=True)),
                        ('changed_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('changed_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('report', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='changes', to='pressure.pressurereport')),
                    ],
                    options={
                        'db_table': 'kpis_pressurereportchange',
                        'ordering': ['-changed_at', '-pk'],
                    },
                ),
                migrations.AddConstraint(
                    model_name='pressurereport',
                    constraint=models.UniqueConstraint(fields=('practice', 'week_start'), name='pressure_one_report_per_practice_week'),
                ),
                migrations.AddConstraint(
                    model_name='pressurereport',
                    constraint=models.CheckConstraint(condition=models.Q(('level__gte', 1), ('level__lte', 6)), name='pressure_level_one_to_six'),
                ),
                migrations.AddConstraint(
                    model_name='pressurereport',
                    constraint=models.CheckConstraint(condition=models.Q(('week_start__week_day', 2)), name='pressure_week_starts_on_monday'),
                ),
                migrations.AddConstraint(
                    model_name='pressurereport',
                    constraint=models.CheckConstraint(condition=models.Q(('week_start__gte', datetime.date(2000, 1, 1)), ('week_start__lt', datetime.date(2100, 1, 1))), name='pressure_week_in_range', violation_error_message='The week must be on or after 1 January 2000 and before 1 January 2100.'),
                ),
                migrations.AddConstraint(
                    model_name='pressurealert',
                    constraint=models.CheckConstraint(condition=models.Q(('level__in', (5, 6))), name='pressure_alert_top_levels_only'),
                ),
                migrations.AddConstraint(
                    model_name='pressurealert',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('acknowledged_at__isnull', True), ('acknowledged_by__isnull', True)), models.Q(('acknowledged_at__isnull', False), ('acknowledged_by__isnull', False)), _connector='OR'), name='pressure_alert_acknowledged_by_someone'),
                ),
            ],
        ),
        # Installs the triggers under this app's names on the same table; kpis 0005 drops the old.
        pgtrigger.migrations.AddTrigger(
            model_name='pressurereport',
            trigger=pgtrigger.compiler.Trigger(name='insert_insert', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "audit_pressurereportchange" ("clinical_staff_absent", "comment", "id", "level", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "practice_id", "reported_at", "reported_by_id", "same_day_appointments_available", "updated_at", "version", "week_start") VALUES (NEW."clinical_staff_absent", NEW."comment", NEW."id", NEW."level", _pgh_attach_context(), NOW(), \'insert\', NEW."id", NEW."practice_id", NEW."reported_at", NEW."reported_by_id", NEW."same_day_appointments_available", NEW."updated_at", NEW."version", NEW."week_start"); RETURN NULL;', hash='58ffcd514342dc30b3c429d6222f79d2b467c82a', operation='INSERT', pgid='pgtrigger_insert_insert_61022', table='kpis_pressurereport', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='pressurereport',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(condition='WHEN (OLD.* IS DISTINCT FROM NEW.*)', func='INSERT INTO "audit_pressurereportchange" ("clinical_staff_absent", "comment", "id", "level", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "practice_id", "reported_at", "reported_by_id", "same_day_appointments_available", "updated_at", "version", "week_start") VALUES (NEW."clinical_staff_absent", NEW."comment", NEW."id", NEW."level", _pgh_attach_context(), NOW(), \'update\', NEW."id", NEW."practice_id", NEW."reported_at", NEW."reported_by_id", NEW."same_day_appointments_available", NEW."updated_at", NEW."version", NEW."week_start"); RETURN NULL;', hash='23abc319b897d7eb9dcc75f2b5a924db4a352940', operation='UPDATE', pgid='pgtrigger_update_update_ff552', table='kpis_pressurereport', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='pressurereport',
            trigger=pgtrigger.compiler.Trigger(name='delete_delete', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "audit_pressurereportchange" ("clinical_staff_absent", "comment", "id", "level", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "practice_id", "reported_at", "reported_by_id", "same_day_appointments_available", "updated_at", "version", "week_start") VALUES (OLD."clinical_staff_absent", OLD."comment", OLD."id", OLD."level", _pgh_attach_context(), NOW(), \'delete\', OLD."id", OLD."practice_id", OLD."reported_at", OLD."reported_by_id", OLD."same_day_appointments_available", OLD."updated_at", OLD."version", OLD."week_start"); RETURN NULL;', hash='0d6844dbe41cf34bc8a8a1476ed7f2867f1b1675', operation='DELETE', pgid='pgtrigger_delete_delete_0052e', table='kpis_pressurereport', when='AFTER')),
        ),
        migrations.RunPython(content_types_follow("kpis", "pressure"), content_types_follow("pressure", "kpis")),
    ]
