"""What the browser keeps: nothing about a resident, in a cookie or in its cache."""

import base64
import datetime as dt
import zlib

import time_machine

from ..meetings.factories import active_resident, make_meeting

A_TUESDAY = dt.datetime(2026, 3, 10, 10, 0, tzinfo=dt.UTC)


def readable(cookie_value: str) -> str:
    """A cookie as anyone holding it could read it: signed values are only base64 (and maybe
    zlib), not encrypted."""
    payload = cookie_value.split(":", 1)[0]
    try:
        raw = base64.urlsafe_b64decode(payload.lstrip(".") + "=" * (-len(payload.lstrip(".")) % 4))
        return cookie_value + (zlib.decompress(raw) if payload.startswith(".") else raw).decode(errors="replace")
    except (ValueError, zlib.error):
        return cookie_value


@time_machine.travel(A_TUESDAY, tick=False)
def test_a_message_naming_a_resident_travels_in_no_cookie(client, coordinator, own_team):
    resident = active_resident(own_team, given_name="Agnes", family_name="Cookiejar")
    meeting = make_meeting(own_team, days_ahead=2)
    client.force_login(coordinator)

    response = client.post(f"/meetings/teams/{own_team.slug}/{meeting.pk}/agenda/add/", {"resident": resident.pk})

    assert response.status_code == 302
    for name, cookie in client.cookies.items():
        assert "Cookiejar" not in readable(cookie.value), f"the {name} cookie names the resident"
    assert "Agnes Cookiejar added to the agenda." in client.get(response["Location"]).text
