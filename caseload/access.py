from collections.abc import Iterable

import structlog
from django.db import connection
from django.http import HttpRequest
from django.utils import timezone

from .models import ResidentAccess


def record_resident_access(request: HttpRequest, resident_ids: Iterable[int], page: str) -> int:
    """One row per resident shown; called by the views that show or export residents."""
    request_id = structlog.contextvars.get_contextvars().get("request_id", "")
    return record_resident_access_by(user=request.user, resident_ids=resident_ids, page=page, path=request.path, request_id=str(request_id))


def record_resident_access_by(*, user, resident_ids: Iterable[int], page: str, path: str, request_id: str = "") -> int:
    """The same row for work done on someone's behalf with no request: a task sending a record out
    (an outcome summary to a GP practice) is logged as that person's, at the page it came from."""
    resident_ids = sorted(set(resident_ids))
    if not resident_ids:
        return 0
    # One statement with the ids as one array: an agenda logs thirty rows on every opening, and
    # bulk_create would build and send thirty rows of seven parameters each time.
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {connection.ops.quote_name(ResidentAccess._meta.db_table)} "
            "(user_id, resident_id, nhs_number, page, path, at, request_id) "
            "SELECT %s, resident_id, '', %s, %s, %s, %s FROM unnest(%s::bigint[]) AS resident_id",
            [user.pk, page, path[:300], timezone.now(), request_id[:64], resident_ids],
        )
    return len(resident_ids)


def record_extract_access(request: HttpRequest, extract_id: int, nhs_numbers: Iterable[str], page: str) -> int:
    """One row per person of a team's population extract shown (people who are not residents, so
    named by NHS number and the extract's version); called by the pages that list them (case finding)."""
    request_id = structlog.contextvars.get_contextvars().get("request_id", "")
    rows = [
        ResidentAccess(
            user=request.user, extract_id=extract_id, nhs_number=nhs_number, page=page, path=request.path[:300], request_id=str(request_id)
        )
        for nhs_number in sorted(set(nhs_numbers))
    ]
    ResidentAccess.objects.bulk_create(rows)
    return len(rows)
