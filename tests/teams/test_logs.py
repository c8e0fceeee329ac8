"""Logs are JSON lines with a request id and user id, and never hold an NHS number."""

import io
import json
import logging

import pytest
import structlog
from django.conf import settings

from int_app.logs import mask_personal_data

from ..factories import PASSWORD, ResidentFactory
from ..meetings.factories import make_meeting

NHS_NUMBER = "9434765919"


def capture_logs() -> tuple[logging.Handler, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    configured = settings.LOGGING["formatters"]["json"]  # the processors production logs through
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=configured["processors"], foreign_pre_chain=configured["foreign_pre_chain"]
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


def test_a_search_for_a_resident_by_name_leaves_no_name_in_the_logs(client, coordinator, own_team):
    ResidentFactory(team=own_team, given_name="Philippa", family_name="Featherstonehaugh")
    meeting = make_meeting(own_team, days_ahead=3)
    client.force_login(coordinator)
    handler, stream = capture_logs()
    try:
        found = client.get(f"/caseload/teams/{own_team.slug}/", {"q": "Featherstonehaugh", "status": "open"})
        client.get(f"/meetings/teams/{own_team.slug}/{meeting.pk}/agenda/", {"q": "Philippa Feather"}, headers={"HX-Request": "true"})
    finally:
        logging.getLogger().removeHandler(handler)
    assert "Featherstonehaugh" in found.text, "the search found her"
    text = stream.getvalue()
    assert "Featherstonehaugh" not in text and "Philippa" not in text
    requests = [json.loads(line)["request"] for line in text.splitlines() if '"request_finished"' in line]
    assert f"GET /caseload/teams/{own_team.slug}/?q=[typed]&status=open" in requests
    assert f"GET /meetings/teams/{own_team.slug}/{meeting.pk}/agenda/?q=[typed]" in requests


@pytest.mark.parametrize(
    "text, masked",
    [
        ("GET /caseload/?nhs_number=9434765919&page=2", "GET /caseload/?nhs_number=[typed]&page=2"),
        ("GET /caseload/teams/east/?q=Agnes+Smith&sort=name", "GET /caseload/teams/east/?q=[typed]&sort=name"),
        ("GET /accounts/login/?next=%2Fcaseload%2F%3Fq%3DSmith", "GET /accounts/login/?next=[typed]"),
        ("GET /meetings/teams/east/3/agenda/?q=", "GET /meetings/teams/east/3/agenda/?q="),
        ("NHS 943 476 5919 referred", "NHS [nhs-number] referred"),
        ("/residents/943-476-5919/", "/residents/[nhs-number]/"),
        ("request bd1234567890-4d10-ac9c-d271190d080b", "request bd1234567890-4d10-ac9c-d271190d080b"),
        ("id 0b943954-aefb-475f-b754-a9434765919b", "id 0b943954-aefb-475f-b754-a9434765919b"),
        # A calendar feed's address is its key: a log line must not hand it on.
        ("GET /meetings/calendar/Zx9-_aB3kL0pQ7rS2tU5vW8yA1cD4eF6gH9iJ2kL5mN.ics", "GET /meetings/calendar/[token].ics"),
        ("GET /meetings/calendar/reset/", "GET /meetings/calendar/reset/"),
    ],
)
def test_nhs_numbers_and_typed_text_are_masked_but_request_ids_are_left_whole(text, masked):
    assert mask_personal_data(text) == masked
