"""The weekly meeting in a real browser: the coordinator builds and publishes an agenda from the
suggestions and runs the meeting; the GP, watching from their own screen, sees the clinical
decision appear and signs it off; the key worker, logged in elsewhere, marks the action done."""

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from int_app.teams.roles import Role
from meetings.models import Action, Decision, Meeting

from ..conftest import member
from ..meetings.factories import active_resident, make_meeting, referred_resident
from .conftest import assert_accessible, log_in


@pytest.mark.browser
def test_the_team_runs_a_meeting_from_agenda_to_done_action(new_page, live_server, transactional_db, own_team):
    coordinator = member(own_team, Role.COORDINATOR)
    gp = member(own_team, Role.GP)
    social_worker = member(own_team, Role.SOCIAL_WORKER)
    meeting = make_meeting(own_team, days_ahead=3)
    active_resident(own_team, given_name="Margaret", family_name="Review", key_worker=social_worker)
    referred_resident(own_team, given_name="Olive", family_name="Newcome")

    # The coordinator builds the agenda from the suggestions.
    desk = new_page()
    log_in(desk, live_server, coordinator.email)
    desk.get_by_role("link", name="All meetings and series").click()
    desk.get_by_role("link", name=f"Build the agenda for {meeting}").click()
    expect(desk.get_by_role("heading", name="Active residents due review")).to_be_visible()
    desk.get_by_role("button", name="Add Margaret Review").click()
    expect(desk.locator("#agenda-items").get_by_role("link", name="Margaret Review")).to_be_visible()
    desk.get_by_role("button", name="Add Olive Newcome").click()
    expect(desk.locator("#agenda-items > li")).to_have_count(2)
    desk.get_by_role("button", name="Move up Olive Newcome").click()
    expect(desk.locator("#agenda-items > li").first).to_contain_text("Olive Newcome")
    desk.get_by_role("button", name="Move down Olive Newcome").click()
    expect(desk.locator("#agenda-items > li").first).to_contain_text("Margaret Review")
    expect(desk.get_by_text("20 of 90 minutes")).to_be_visible()
    desk.locator("summary").filter(has_text="Information pack for Margaret Review").click()
    expect(desk.get_by_text("Service use: last 90 days against the 90 before").first).to_be_visible()
    assert_accessible(desk, live_server, context="agenda building")

    desk.get_by_role("link", name="Publish the agenda").click()
    desk.get_by_role("button", name="Publish and email the team").click()
    expect(desk.get_by_text("Agenda published.")).to_be_visible()
    expect(desk.get_by_role("button", name="Add Olive Newcome")).to_have_count(0)

    # The GP opens the meeting on their own screen before anything is recorded.
    gp_screen = new_page()
    log_in(gp_screen, live_server, gp.email)
    gp_screen.goto(f"{live_server.url}/meetings/teams/{meeting.team.slug}/{meeting.pk}/")
    expect(gp_screen.get_by_text("This page updates itself")).to_be_visible()

    # The coordinator runs the meeting: the clock, notes, a clinical decision and an action.
    desk.get_by_role("link", name="Open the meeting screen").click()
    item = desk.locator("section.app-meeting-item").filter(has_text="Margaret Review")
    item.get_by_role("button", name="Start discussing Margaret Review").click()
    expect(item.get_by_role("button", name="Stop the clock for Margaret Review")).to_be_visible()
    clock = item.locator("[data-timer]")
    first_reading = clock.inner_text()
    expect(clock).not_to_have_text(first_reading, timeout=5_000)  # the clock ticks
    item.get_by_label("Notes on Margaret Review").fill("Two falls since the last review; daughter worried.")
    item.get_by_role("button", name="Save notes on Margaret Review").click()
    expect(item.get_by_text("Notes saved for Margaret Review.")).to_be_visible()
    item.get_by_label("Decision about Margaret Review").fill("Start a medication review with the practice pharmacist")
    item.get_by_label("Clinical decision: the GP signs it off").check()
    item.get_by_role("button", name="Record the decision").click()
    expect(item.get_by_text("Provisional", exact=True)).to_be_visible()
    due = timezone.localdate() + dt.timedelta(days=7)
    item.get_by_label("Action for Margaret Review").fill("Book the falls clinic and tell the daughter")
    expect(item.get_by_label("Owner")).to_have_value(str(social_worker.pk))
    item.get_by_label("Due date").fill(due.isoformat())
    item.get_by_role("button", name="Add the action").click()
    expect(item.get_by_role("link", name="Book the falls clinic and tell the daughter")).to_be_visible()
    assert_accessible(desk, live_server, context="meeting screen")

    # The GP's screen catches up without a reload, and the GP signs the decision off.
    expect(gp_screen.get_by_text("Start a medication review with the practice pharmacist")).to_be_visible(timeout=12_000)
    expect(gp_screen.get_by_text("Two falls since the last review")).to_be_visible()
    gp_screen.get_by_role("button", name="Sign off the decision: Start a medication review").click()
    expect(gp_screen.get_by_text(f"by {gp.full_name}")).to_be_visible()

    # The key worker, on their own device, finds the action and marks it done.
    phone = new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    log_in(phone, live_server, social_worker.email)
    phone.get_by_role("link", name="All your actions (1)").click()
    card = phone.locator(".app-action-card").filter(has_text="Book the falls clinic")
    expect(card).to_be_visible()
    card.get_by_label("Comment on Book the falls clinic").fill("Booked for Tuesday; daughter told.")
    card.get_by_role("button", name="Mark done – Book the falls clinic").click()
    expect(phone.get_by_text("Action marked done.")).to_be_visible()
    expect(phone.locator(".app-action-card").filter(has_text="Book the falls clinic").get_by_text("Done", exact=True)).to_be_visible()
    assert_accessible(phone, live_server, context="my actions on a phone")

    action = Action.objects.get()
    decision = Decision.objects.get()
    assert (action.status, action.owner, action.due_date) == ("done", social_worker, due)
    assert [u.comment for u in action.updates.all()][-1] == "Booked for Tuesday; daughter told."
    assert decision.signed_by == gp and decision.is_clinical
    meeting.refresh_from_db()
    assert meeting.agenda_published_at is not None and meeting.status == Meeting.Status.SCHEDULED


@pytest.mark.browser
def test_the_coordinator_drags_an_item_to_the_top_of_the_agenda(page, live_server, transactional_db, own_team):
    from ..meetings.factories import add_item

    meeting = make_meeting(own_team, days_ahead=3)
    for name in ("First", "Second", "Third"):
        add_item(meeting, active_resident(own_team, given_name="Resident", family_name=name))
    log_in(page, live_server, member(own_team, Role.COORDINATOR).email)
    page.set_viewport_size({"width": 1280, "height": 1800})  # the first and third items both on screen
    page.goto(f"{live_server.url}/meetings/teams/{meeting.team.slug}/{meeting.pk}/agenda/")
    items = page.locator("#agenda-items > li")
    expect(items.first).to_contain_text("Resident First")
    page.wait_for_function("document.querySelector('#agenda-items').dataset.sortableReady === 'true'")
    source = items.nth(2).locator(".app-drag-handle").bounding_box()
    target = items.first.bounding_box()
    page.mouse.move(source["x"] + 5, source["y"] + 5)
    page.mouse.down()
    page.mouse.move(source["x"] + 5, source["y"] - 20, steps=5)
    expect(page.locator(".sortable-fallback")).to_have_count(1)  # the drag has started
    page.mouse.move(target["x"] + 40, target["y"] + 20, steps=20)
    expect(items.first).to_have_class(re.compile("sortable-ghost"))  # Sortable moved it to the top
    # Dropping it posts the new order; a reload before that answer would cancel it.
    with page.expect_response(lambda response: response.url.endswith("/agenda/order/") and response.ok):
        page.mouse.up()
    expect(page.locator("#agenda-items > li").first).to_contain_text("Resident Third")
    # The server has the new order: a reload shows it.
    page.reload()
    expect(page.locator("#agenda-items > li").first).to_contain_text("Resident Third")
    assert [i.resident.family_name for i in meeting.items.order_by("position")] == ["Third", "First", "Second"]


@pytest.mark.browser
def test_an_open_information_pack_stays_open_while_the_coordinator_changes_the_agenda(page, live_server, transactional_db, own_team):
    from ..meetings.factories import add_item

    meeting = make_meeting(own_team, days_ahead=3)
    first = add_item(meeting, active_resident(own_team, given_name="Resident", family_name="First"), minutes=10)
    add_item(meeting, active_resident(own_team, given_name="Resident", family_name="Second"), minutes=10)
    log_in(page, live_server, member(own_team, Role.COORDINATOR).email)
    page.goto(f"{live_server.url}/meetings/teams/{meeting.team.slug}/{meeting.pk}/agenda/")
    opened = page.locator("details").filter(has_text="Information pack for Resident First")
    left_shut = page.locator("details").filter(has_text="Information pack for Resident Second")
    opened.locator("summary").click()
    expect(opened).to_have_attribute("open", "")

    page.locator(f"#minutes-{first.pk}").fill("25")
    page.get_by_role("button", name="Save minutes and presenter for Resident First").click()
    expect(page.get_by_text("35 of 90 minutes")).to_be_visible()  # the region has been swapped
    expect(opened).to_have_attribute("open", "")
    expect(left_shut).not_to_have_attribute("open", "")


# A4 less the print margins (15 mm top and bottom, 12 mm each side), in CSS pixels (96 to the inch).
A4_PRINTABLE_WIDTH_PX = round((210 - 2 * 12) / 25.4 * 96)
A4_PRINTABLE_HEIGHT_PX = round((297 - 2 * 15) / 25.4 * 96)


@pytest.mark.browser
def test_the_printed_agenda_fits_a4_width_and_no_resident_is_split_across_pages(page, live_server, transactional_db, own_team):
    from caseload.models import ServiceUseEvent

    from ..meetings.factories import add_item, discussed, make_action, record_decision, service_use

    meeting = make_meeting(own_team, days_ahead=3)
    for n in range(6):
        resident = active_resident(own_team, given_name="Bartholomew-Alexander", family_name=f"Featherstonehaugh-Printed{n}")
        earlier = discussed(resident, days_ago=7 * (n + 1))
        record_decision(earlier, "Refer to the falls service and review the medication with the practice pharmacist", clinical=True)
        record_decision(earlier, "Ask the daughter about a key safe and a pendant alarm")
        for due in (-3, 4, 12):
            make_action(resident, due_in_days=due, description="Arrange a joint home visit with the occupational therapist and the district nurse")
        for kind in ServiceUseEvent.Kind:
            service_use(resident, kind, days_ago=20 + n)
        add_item(meeting, resident)
    log_in(page, live_server, member(own_team, Role.COORDINATOR).email)
    page.set_viewport_size({"width": A4_PRINTABLE_WIDTH_PX, "height": A4_PRINTABLE_HEIGHT_PX})
    page.goto(f"{live_server.url}/meetings/teams/{meeting.team.slug}/{meeting.pk}/agenda/print/")
    page.emulate_media(media="print")

    assert page.evaluate("document.documentElement.scrollWidth") <= A4_PRINTABLE_WIDTH_PX, "nothing runs off the page's side"
    heights = page.locator(".app-print-item").evaluate_all("items => items.map((item) => item.getBoundingClientRect().height)")
    assert len(heights) == 6
    assert max(heights) < A4_PRINTABLE_HEIGHT_PX, "each resident fits on one page, so none is split"
    assert page.pdf(format="A4", margin={"top": "15mm", "bottom": "15mm", "left": "12mm", "right": "12mm"})[:4] == b"%PDF"
