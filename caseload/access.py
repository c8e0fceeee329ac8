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
    user_id = user.pk  # once: the request's user is a lazy object, slow to read for each row
    rows = [
        ResidentAccess(user_id=user_id, resident_id=resident_id, page=page, path=path[:300], request_id=request_id[:64])
        for resident_id in set(resident_ids)
    ]
    ResidentAccess.objects.bulk_create(rows)
    return len(rows)


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
