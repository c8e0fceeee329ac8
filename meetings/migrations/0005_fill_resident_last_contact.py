"""Fill the residents' new `last_contact_at` from the discussions and action updates already
recorded; from now on meetings' save handlers keep it (meetings/handlers.py)."""

from django.db import migrations
from django.db.models import Max, OuterRef, Subquery, Value
from django.db.models.functions import Greatest, Least
from django.utils import timezone


def fill_last_contact(apps, schema_editor) -> None:
    Resident = apps.get_model("caseload", "Resident")
    AgendaItem = apps.get_model("meetings", "AgendaItem")
    ActionUpdate = apps.get_model("meetings", "ActionUpdate")
    discussed = (
        AgendaItem.objects.filter(resident=OuterRef("pk"), outcome="discussed")
        .order_by()
        .values("resident")
        .annotate(latest=Max(Least("meeting__starts_at", Value(timezone.now()))))
        .values("latest")
    )
    updated = (
        ActionUpdate.objects.filter(action__resident=OuterRef("pk"))
        .order_by()
        .values("action__resident")
        .annotate(latest=Max("at"))
        .values("latest")
    )
    Resident.objects.update(last_contact_at=Greatest(Subquery(discussed), Subquery(updated)))


class Migration(migrations.Migration):
    dependencies = [
        ("caseload", "0005_resident_last_contact_at"),
        ("meetings", "0004_dates_within_bounds"),
    ]

    operations = [migrations.RunPython(fill_last_contact, migrations.RunPython.noop)]
