"""An import's file waits on disk under INT_IMPORT_DIR, not in the database (ADR 0010).

A job still waiting when this runs keeps its file: its bytes are written to INT_IMPORT_DIR under
the name the job then points at, before the column that held them goes. Finished jobs held no
bytes worth keeping (the file is not kept once its job has finished)."""

import uuid
from pathlib import Path

from django.conf import settings
from django.db import migrations, models

FINISHED = ("done", "refused", "failed")


def waiting_files_to_disk(apps, schema_editor) -> None:
    ImportJob = apps.get_model("caseload", "ImportJob")
    waiting = ImportJob.objects.exclude(status__in=FINISHED).exclude(content=b"")
    folder = Path(settings.INT_IMPORT_DIR)
    for job in waiting.iterator(chunk_size=1):
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{uuid.uuid4().hex}.csv"
        (folder / name).write_bytes(bytes(job.content))
        ImportJob.objects.filter(pk=job.pk).update(stored_as=name)


class Migration(migrations.Migration):

    dependencies = [
        ('caseload', '0006_resident_access_moved_from_audit'),
    ]

    operations = [
        migrations.AddField(
            model_name='importjob',
            name='stored_as',
            field=models.CharField(blank=True, max_length=100),
        ),
        migrations.RunPython(waiting_files_to_disk, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name='importjob',
            name='content',
        ),
    ]
