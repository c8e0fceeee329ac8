from collections.abc import Iterable

import structlog
from django.http import HttpRequest

from .models import ResidentAccess


def record_resident_access(request: HttpRequest, resident_ids: Iterable[int], page: str) -> int:
    """One row per resident shown; called by the views that show or export residents."""
    request_id = structlog.contextvars.get_contextvars().get("request_id", "")
    rows = [
        ResidentAccess(user=request.user, resident_id=resident_id, page=page, path=request.path[:300], request_id=str(request_id))
        for resident_id in set(resident_ids)
    ]
    ResidentAccess.objects.bulk_create(rows)
    return len(rows)
