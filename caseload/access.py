from collections.abc import Iterable

import structlog
from django.http import HttpRequest

from .models import ResidentAccess


def record_resident_access(request: HttpRequest, resident_ids: Iterable[int], page: str) -> int:
    """One row per resident shown; called by the views that show or export residents."""
    request_id = structlog.contextvars.get_contextvars().get("request_id", "")
    return record_resident_access_by(user=request.user, resident_ids=resident_ids, page=page, path=request.path, request_id=str(request_id))


def record_resident_access_by(*, user, resident_ids: Iterable[int], page: str, path: str, request_id: str = "") -> int:
    """The same row for work done on someone's behalf with no request: a task sending a record out
    (an outcome summary to a GP practice) is logged as that person's, at the page it came from."""
    rows = [
        ResidentAccess(user=user, resident_id=resident_id, page=page, path=path[:300], request_id=request_id[:64])
        for resident_id in set(resident_ids)
    ]
    ResidentAccess.objects.bulk_create(rows)
    return len(rows)
