"""Logs are JSON lines with a request id and user id, and never hold an NHS number."""

import io
import json
import logging

import pytest
import structlog

from int_app.logs import SHARED_PROCESSORS, mask_nhs_numbers, redact_nhs_numbers

from ..factories import PASSWORD, ResidentFactory

NHS_NUMBER = "9434765919"


def capture_logs() -> tuple[logging.Handler, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact_nhs_numbers,
                structlog.processors.JSONRenderer(),
            ],
            foreign_pre_chain=SHARED_PROCESSORS,
        )
    )
    handler.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    return handler, stream


def test_a_day_of_use_leaves_json_logs_with_request_and_user_ids_and_no_nhs_number(client, coordinator, own_team):
    resident = ResidentFactory(team=own_team, nhs_number=NHS_NUMBER)
    handler, stream = capture_logs()
    try:
        client.post("/accounts/login/", {"login": coordinator.email, "password": PASSWORD})
        client.get("/")
        client.get(f"/caseload/?q={NHS_NUMBER}")
        client.get("/caseload/", {"q": "943 476 5919"})
        client.get(f"/caseload/residents/{resident.pk}/")
        client.post("/caseload/referrals/new/", {"nhs_number": NHS_NUMBER, "given_name": "X"})
        logging.getLogger("int_app").warning("Looked up resident %s", NHS_NUMBER)
        structlog.get_logger("int_app").info("resident_opened", nhs_number="943-476-5919")
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    assert lines, "the journey wrote log lines"
    text = stream.getvalue()
    for form in (NHS_NUMBER, "943 476 5919", "943-476-5919"):
        assert form not in text
    requests = [line for line in lines if line.get("event") in {"request_started", "request_finished"}]
    assert requests and all(line.get("request_id") for line in requests)
    assert any(line.get("user_id") == coordinator.pk for line in requests)


@pytest.mark.parametrize(
    "text, masked",
    [
        ("nhs_number=9434765919&q=x", "nhs_number=[nhs-number]&q=x"),
        ("NHS 943 476 5919 referred", "NHS [nhs-number] referred"),
        ("/residents/943-476-5919/", "/residents/[nhs-number]/"),
        ("request bd1234567890-4d10-ac9c-d271190d080b", "request bd1234567890-4d10-ac9c-d271190d080b"),
        ("id 0b943954-aefb-475f-b754-a9434765919b", "id 0b943954-aefb-475f-b754-a9434765919b"),
    ],
)
def test_nhs_numbers_are_masked_but_request_ids_are_left_whole(text, masked):
    assert mask_nhs_numbers(text) == masked
