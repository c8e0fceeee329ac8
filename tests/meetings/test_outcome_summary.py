"""After the minutes are published, each resident discussed gets a one-page outcome summary, emailed
to their registered practice's shared mailbox and kept with the meeting; a correction is sent as an
addendum. What the practice reads is taken from the PDF itself."""

import datetime as dt
import io
import smtplib
import time
from zoneinfo import ZoneInfo

import pypdf
import pytest
import time_machine
from celery.exceptions import Retry
from django.core.mail.backends.locmem import EmailBackend as MemoryBackend
from django.urls import reverse

from caseload.models import ResidentAccess
from int_app.teams.models import Practice
from int_app.teams.roles import Role
from meetings import tasks
from meetings.models import AgendaItem, Decision, Meeting, OutcomeSummary
from meetings.outcome_summaries import MDT_DISCUSSION_CONCEPT

from ..conftest import member
from ..factories import PracticeFactory
from .factories import active_resident, add_item, make_action, make_meeting, record_decision

LONDON = ZoneInfo("Europe/London")
# Thursday 4 March 2027: the case review met at 13:00; the coordinator publishes the minutes at 15:00.
MEETING_DAY = dt.datetime(2027, 3, 4, 15, 0, tzinfo=LONDON)
MAILBOX = "church.road.surgery@nhs.net"


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(content)).pages)


def pdf_pages(content: bytes) -> int:
    return len(pypdf.PdfReader(io.BytesIO(content)).pages)


def one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(autouse=True)
def thursday_afternoon():
    with time_machine.travel(MEETING_DAY, tick=False):
        yield


@pytest.fixture
def held(own_team, coordinator) -> Meeting:
    """A case review held today: Nora discussed (a signed clinical decision, a decision still
    provisional, an action), Percy discussed at a practice with no mailbox, Olive not reached."""
    meeting = make_meeting(own_team, days_ahead=0, published=True)
    with_mailbox = Practice.objects.filter(pcn__neighbourhood=own_team.neighbourhood).order_by("pk").first()
    Practice.objects.filter(pk=with_mailbox.pk).update(name="Church Road Surgery", shared_mailbox=MAILBOX)
    without_mailbox = PracticeFactory(pcn=with_mailbox.pcn, name="Hill Street Practice", shared_mailbox="")

    nora = active_resident(own_team, given_name="Nora", family_name="Minuted", practice=with_mailbox)
    item = add_item(meeting, nora)
    item.record_notes("Two falls at home this month; lives alone and is worried about the stairs.")
    gp = member(own_team, Role.GP)
    signed = record_decision(item, "Start a medication review for falls risk", clinical=True)
    Decision.objects.filter(pk=signed.pk).update(signed_by=gp, signed_at=MEETING_DAY.replace(hour=13, minute=20))
    record_decision(item, "Refer to the falls clinic", clinical=True)
    record_decision(item, "Ask the council about a stair lift")
    make_action(nora, item=item, owner=member(own_team, Role.SOCIAL_WORKER), due_in_days=14, description="Visit to assess the stairs")

    percy = active_resident(own_team, given_name="Percy", family_name="Nomailbox", practice=without_mailbox)
    record_decision(add_item(meeting, percy), "Continue the current plan")
    add_item(meeting, active_resident(own_team, given_name="Olive", family_name="Later", practice=with_mailbox))

    meeting.attendance.filter(role__in=[Role.COORDINATOR, Role.GP]).update(status="present")
    meeting.attendance.filter(role=Role.SOCIAL_WORKER).update(status="deputy", deputy_name="Alex Cover")
    meeting.attendance.filter(role=Role.OCCUPATIONAL_THERAPIST).update(status="apologies")
    meeting.end()
    return meeting


@pytest.fixture
def published(client, coordinator, held, django_capture_on_commit_callbacks, mailoutbox) -> Meeting:
    client.force_login(coordinator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("meetings:minutes_publish", args=[held.team.slug, held.pk]))
    assert response.status_code == 302
    return held


def summary_of(meeting: Meeting, family_name: str, version: int = 1) -> OutcomeSummary:
    return OutcomeSummary.objects.get(meeting=meeting, resident__family_name=family_name, version=version)


def outcome_emails(mailoutbox) -> list:
    return [email for email in mailoutbox if "INT case discussion" in email.subject]


def test_publishing_the_minutes_emails_the_practice_a_one_page_summary_of_the_discussion(published, own_team, mailoutbox):
    [email] = outcome_emails(mailoutbox)
    assert email.to == [MAILBOX]
    summary = summary_of(published, "Minuted")
    assert email.subject == f"Outcome of an INT case discussion, 4 March 2027 (ref {summary.pk})"
    assert "Nora" not in email.subject, "no name in a subject line"
    assert "SNOMED CT 384682003 |Multidisciplinary care conference (procedure)|" in email.body
    [(filename, content, mimetype)] = email.attachments
    assert (filename, mimetype) == (f"int-outcome-summary-2027-03-04-{summary.pk}-v1.pdf", "application/pdf")
    assert pdf_pages(content) == 1

    text = one_line(pdf_text(content))
    resident = summary.resident
    assert f"Nora Minuted, NHS number {resident.formatted_nhs_number}" in text
    assert "Church Road Surgery" in text and "Thursday 4 March 2027, 13:00" in text
    # Who was present: the deputy by name; apologies apart.
    assert "Own coordinator, INT coordinator; Own gp, GP; Alex Cover, deputy for Own social_worker (Social worker)" in text
    assert "Apologies: Own occupational_therapist, Occupational therapist" in text
    assert "Two falls at home this month; lives alone and is worried about the stairs." in text
    # Decisions: the clinical one with who signed it and when; the unsigned one says so.
    assert "Start a medication review for falls risk – clinical decision, signed off by Own gp on 4 March 2027, 13:20" in text
    assert "Refer to the falls clinic – clinical decision, provisional: not yet signed off by the team's GP" in text
    assert "Ask the council about a stair lift" in text
    # Actions with their owner and due date, and the next review.
    assert "Visit to assess the stairs Own social_worker, Social worker 18 March 2027" in text
    assert "By 1 April 2027: the team reviews each resident it supports at least every 4 weeks." in text
    assert f"{MDT_DISCUSSION_CONCEPT.concept_id} |{MDT_DISCUSSION_CONCEPT.term}|" in text

    summary.refresh_from_db()
    assert summary.status == OutcomeSummary.Status.SENT and summary.sent_to == MAILBOX and summary.sent_at == MEETING_DAY
    assert bytes(summary.pdf) == content, "the PDF sent is the one kept with the meeting"


def test_long_notes_are_shortened_so_the_summary_stays_on_one_page(own_team, coordinator, held):
    from meetings import services

    item = held.items.get(resident__family_name="Minuted")
    AgendaItem.objects.filter(pk=item.pk).update(notes="She described each fall in detail. " * 120)
    services.minutes_publish(meeting=held, by=coordinator)
    summary = summary_of(held, "Minuted")
    tasks.send_outcome_summary(summary.pk)
    summary.refresh_from_db()
    assert pdf_pages(bytes(summary.pdf)) == 1
    assert "Shortened to fit one page: the full notes are in the team's minutes." in one_line(pdf_text(bytes(summary.pdf)))


def test_each_resident_discussed_gets_one_summary_and_the_one_not_reached_none(published):
    assert sorted(published.outcome_summaries.values_list("resident__family_name", flat=True)) == ["Minuted", "Nomailbox"]
    assert not OutcomeSummary.objects.filter(resident__family_name="Later").exists()


def test_the_next_review_is_the_next_meeting_the_resident_is_already_on(own_team, coordinator, held, mailoutbox):
    nora = held.items.get(resident__family_name="Minuted").resident
    next_week = make_meeting(own_team, days_ahead=7)
    add_item(next_week, nora)
    from meetings import services

    services.minutes_publish(meeting=held, by=coordinator)
    tasks.send_outcome_summary(summary_of(held, "Minuted").pk)
    text = one_line(pdf_text(bytes(summary_of(held, "Minuted").pdf)))
    assert f"On the agenda of the {next_week.series.name} on Thursday 11 March 2027." in text


def test_sending_again_sends_nothing_twice(published, mailoutbox):
    summary = summary_of(published, "Minuted")
    with time_machine.travel(MEETING_DAY + dt.timedelta(hours=1), tick=False):
        assert tasks.send_outcome_summary(summary.pk) == OutcomeSummary.Status.SENT
        tasks.send_unsent_mail()  # beat's catch-up leaves a summary sent alone
    assert len(outcome_emails(mailoutbox)) == 1
    summary.refresh_from_db()
    assert summary.sent_at == MEETING_DAY and summary.attempts == 1


def test_a_practice_without_a_mailbox_keeps_the_summary_and_the_coordinator_sees_why(published, client, mailoutbox, django_capture_on_commit_callbacks):
    summary = summary_of(published, "Nomailbox")
    assert summary.status == OutcomeSummary.Status.NO_MAILBOX and summary.sent_at is None
    assert bytes(summary.pdf).startswith(b"%PDF-"), "the summary is kept, ready to send"
    page = client.get(reverse("meetings:meeting", args=[published.team.slug, published.pk])).text
    assert f"Not sent: no mailbox for Hill Street Practice ({summary.practice.ods_code})" in page

    refused = client.post(reverse("meetings:outcome_summary_send", args=[published.team.slug, summary.pk]), follow=True)
    assert "still has no shared mailbox" in refused.text
    Practice.objects.filter(pk=summary.practice_id).update(shared_mailbox="hill.street@nhs.net")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("meetings:outcome_summary_send", args=[published.team.slug, summary.pk]))
    summary.refresh_from_db()
    assert summary.status == OutcomeSummary.Status.SENT and summary.sent_to == "hill.street@nhs.net"
    assert [email.to for email in outcome_emails(mailoutbox)] == [[MAILBOX], ["hill.street@nhs.net"]]


def test_a_corrected_summary_is_sent_as_an_addendum_to_the_one_sent(published, client, own_team, coordinator, mailoutbox, django_capture_on_commit_callbacks):
    first = summary_of(published, "Minuted")
    provisional = Decision.objects.get(text="Refer to the falls clinic")
    with time_machine.travel(MEETING_DAY + dt.timedelta(days=1), tick=False), django_capture_on_commit_callbacks(execute=True):
        provisional.sign_off(by=member(own_team, Role.GP))
        client.force_login(coordinator)  # the next day: a new session
        page = client.get(reverse("meetings:outcome_summary", args=[published.team.slug, first.pk])).text
        assert '"Refer to the falls clinic" was signed off by Own gp on 5 March 2027, 15:00, after this summary was made.' in page
        response = client.post(
            reverse("meetings:outcome_summary_correct", args=[published.team.slug, first.pk]),
            {"correction": "The GP has signed off the falls clinic referral."},
        )
    corrected = summary_of(published, "Minuted", version=2)
    assert response.status_code == 302 and response["Location"].endswith(f"/outcome-summaries/{corrected.pk}/")
    assert corrected.kind == OutcomeSummary.Kind.ADDENDUM and corrected.supersedes == first
    first.refresh_from_db()
    assert first.status == OutcomeSummary.Status.SENT, "the first stays as it was sent"

    email = outcome_emails(mailoutbox)[-1]
    assert email.subject == f"Addendum: Outcome of an INT case discussion, 4 March 2027 (ref {corrected.pk})"
    assert email.body.startswith("Addendum: corrects the summary sent on 4 March 2027, 15:00.")
    text = one_line(pdf_text(email.attachments[0][1]))
    assert "Addendum: corrects the summary sent on 4 March 2027, 15:00." in text
    assert "Correction: The GP has signed off the falls clinic referral." in text
    assert "Refer to the falls clinic – clinical decision, signed off by Own gp on 5 March 2027, 15:00" in text

    with time_machine.travel(MEETING_DAY + dt.timedelta(days=1), tick=False):
        meeting_page = client.get(reverse("meetings:meeting", args=[published.team.slug, published.pk])).text
        assert "Addendum, version 2" in meeting_page
        assert "after this summary was made" not in client.get(reverse("meetings:outcome_summary", args=[published.team.slug, corrected.pk])).text
        superseded_page = client.get(reverse("meetings:outcome_summary", args=[published.team.slug, first.pk])).text
        assert "Send a corrected summary" not in superseded_page and "Version 2</a>: Sent to" in superseded_page


def test_a_minutes_addendum_sends_corrected_summaries_for_the_residents_it_concerns(published, client, mailoutbox, django_capture_on_commit_callbacks):
    nora_item = published.items.get(resident__family_name="Minuted")
    form = client.get(reverse("meetings:minutes_addendum", args=[published.team.slug, published.pk])).text
    assert "Nora Minuted (Church Road Surgery)" in form and "Olive Later" not in form
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("meetings:minutes_addendum", args=[published.team.slug, published.pk]),
            {"text": "The stair lift request goes to Birmingham City Council.", "correct_summaries_of": [nora_item.pk]},
        )
    corrected = summary_of(published, "Minuted", version=2)
    assert corrected.correction == "The stair lift request goes to Birmingham City Council."
    assert not OutcomeSummary.objects.filter(resident__family_name="Nomailbox", version=2).exists()
    assert outcome_emails(mailoutbox)[-1].subject.startswith("Addendum: ")


def test_a_correction_before_the_first_was_sent_replaces_it_and_only_the_correction_goes(published, client, mailoutbox, django_capture_on_commit_callbacks):
    held_back = summary_of(published, "Nomailbox")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("meetings:outcome_summary_correct", args=[published.team.slug, held_back.pk]), {"correction": "Plan changed."})
    held_back.refresh_from_db()
    assert held_back.status == OutcomeSummary.Status.SUPERSEDED
    corrected = summary_of(published, "Nomailbox", version=2)
    assert corrected.status == OutcomeSummary.Status.NO_MAILBOX
    text = one_line(pdf_text(bytes(corrected.pdf)))
    assert "Addendum: replaces the summary of 4 March 2027, 15:00, which was not sent." in text


def test_a_correction_needs_words(published, client):
    summary = summary_of(published, "Minuted")
    response = client.post(reverse("meetings:outcome_summary_correct", args=[published.team.slug, summary.pk]), {"correction": "  "})
    assert response.status_code == 200 and "Say what the corrected summary corrects." in response.text
    assert published.outcome_summaries.count() == 2


def test_every_summary_sent_is_in_the_residents_access_log(published, coordinator):
    sent = ResidentAccess.objects.filter(page=ResidentAccess.Page.OUTCOME_SUMMARY_SENT)
    summary = summary_of(published, "Minuted")
    assert [(row.resident_id, row.user) for row in sent] == [(summary.resident_id, coordinator)]
    assert sent.get().path == reverse("meetings:outcome_summary", args=[published.team.slug, summary.pk])


class MailServerHangingUpOnce(MemoryBackend):
    attempts = 0

    def send_messages(self, messages):
        type(self).attempts += 1
        if type(self).attempts == 1:
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        return super().send_messages(messages)


def test_a_mail_server_failing_is_shown_and_the_task_retries_and_sends_once(own_team, coordinator, held, client, settings, mailoutbox):
    settings.MAILERS = {"default": {"BACKEND": f"{__name__}.MailServerHangingUpOnce"}}
    MailServerHangingUpOnce.attempts = 0
    from meetings import services

    services.minutes_publish(meeting=held, by=coordinator)  # tasks are queued on commit, not run here
    summary = summary_of(held, "Minuted")
    with pytest.raises(Retry, match="SMTPServerDisconnected"):
        tasks.send_outcome_summary.apply(args=[summary.pk])
    summary.refresh_from_db()
    assert summary.status == OutcomeSummary.Status.PENDING and summary.attempts == 1
    client.force_login(coordinator)
    page = client.get(reverse("meetings:meeting", args=[held.team.slug, held.pk])).text
    assert "Not sent yet: try 1 failed on 4 March 2027, 15:00 (SMTPServerDisconnected: Connection unexpectedly closed). It is tried again." in page

    assert tasks.send_outcome_summary.apply(args=[summary.pk]).get() == OutcomeSummary.Status.SENT
    assert tasks.send_outcome_summary.apply(args=[summary.pk]).get() == OutcomeSummary.Status.SENT
    assert len(outcome_emails(mailoutbox)) == 1


def test_a_pdf_that_cannot_be_drawn_is_shown_and_nothing_is_sent(own_team, coordinator, held, monkeypatch, mailoutbox):
    from meetings import outcome_summaries, services

    def pango_missing(**kwargs):
        raise OSError("cannot load library 'libpango-1.0-0'")

    monkeypatch.setattr(outcome_summaries, "outcome_summary_pdf", pango_missing)
    services.minutes_publish(meeting=held, by=coordinator)
    summary = summary_of(held, "Minuted")
    with pytest.raises(OSError, match="libpango"):
        tasks.send_outcome_summary(summary.pk)
    summary.refresh_from_db()
    assert summary.status == OutcomeSummary.Status.PENDING and not summary.pdf and outcome_emails(mailoutbox) == []
    assert summary.status_text.startswith("Not sent yet: try 1 failed on 4 March 2027, 15:00 (OSError: cannot load library")


@pytest.mark.worker
def test_a_real_worker_sends_the_summaries_once_the_minutes_are_published(client, coordinator, held, live_worker, mailoutbox):
    client.force_login(coordinator)
    assert client.post(reverse("meetings:minutes_publish", args=[held.team.slug, held.pk])).status_code == 302
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and OutcomeSummary.objects.filter(status=OutcomeSummary.Status.PENDING).exists():
        time.sleep(0.2)
    assert summary_of(held, "Minuted").status == OutcomeSummary.Status.SENT
    assert summary_of(held, "Nomailbox").status == OutcomeSummary.Status.NO_MAILBOX
    assert [email.to for email in outcome_emails(mailoutbox)] == [[MAILBOX]]


def test_a_summary_left_waiting_is_queued_again_by_the_catch_up(own_team, coordinator, held, mailoutbox):
    from meetings import services

    services.minutes_publish(meeting=held, by=coordinator)  # the broker was down: nothing ran
    with time_machine.travel(MEETING_DAY + dt.timedelta(minutes=20), tick=False):
        assert tasks.send_unsent_mail() == 4  # the agenda and the minutes, never emailed, and the two summaries
    assert summary_of(held, "Minuted").status == OutcomeSummary.Status.SENT
    assert len(outcome_emails(mailoutbox)) == 1


def test_the_coordinator_previews_and_downloads_each_summary(published, client, own_team, outsider):
    summary = summary_of(published, "Minuted")
    meeting_page = client.get(reverse("meetings:meeting", args=[published.team.slug, published.pk])).text
    preview_url = reverse("meetings:outcome_summary", args=[published.team.slug, summary.pk])
    pdf_url = reverse("meetings:outcome_summary_pdf", args=[published.team.slug, summary.pk])
    assert preview_url in meeting_page and f"{pdf_url}?download=1" in meeting_page

    preview = client.get(preview_url)
    assert preview.status_code == 200
    assert f"Sent to {MAILBOX} on 4 March 2027, 15:00" in preview.text
    assert "Start a medication review for falls risk" in preview.text and "384682003" in preview.text

    inline = client.get(pdf_url)
    assert inline["Content-Type"] == "application/pdf" and inline["Content-Disposition"].startswith("inline;")
    download = client.get(pdf_url, {"download": "1"})
    assert download["Content-Disposition"] == f'attachment; filename="{summary.filename}"'
    assert download.content == bytes(summary.pdf)
    viewed = ResidentAccess.objects.filter(page=ResidentAccess.Page.OUTCOME_SUMMARY, resident=summary.resident)
    assert viewed.count() == 3

    client.force_login(member(own_team, Role.GP))
    assert client.get(preview_url).status_code == 403
    assert client.get(pdf_url).status_code == 403
    client.force_login(outsider)
    assert client.get(preview_url).status_code == 404
    assert client.get(pdf_url).status_code == 404


def test_the_meeting_page_lists_the_summaries_in_a_fixed_number_of_queries(published, client, own_team, coordinator, django_assert_max_num_queries):
    url = reverse("meetings:meeting", args=[published.team.slug, published.pk])
    client.get(url)
    with django_assert_max_num_queries(30) as few:
        client.get(url)
    for n in range(4):
        resident = active_resident(own_team, given_name=f"Extra{n}", family_name="Resident")
        item = add_item(published, resident, outcome=AgendaItem.Outcome.DISCUSSED)
        from meetings.outcome_summaries import outcome_summaries_create

        outcome_summaries_create(meeting=Meeting.objects.get(pk=published.pk), by=coordinator)
        assert item.outcome_summaries.exists()
    with_two = len(few.captured_queries)  # now: the next request clears the connection's query log
    client.get(url)  # after the writes the person is read again once (keyed on the data version), as before the first count
    with django_assert_max_num_queries(with_two):
        page = client.get(url)
    assert page.text.count("Preview<span") == 6


def test_an_old_stored_summary_with_missing_words_still_opens(published, client):
    summary = summary_of(published, "Minuted")
    OutcomeSummary.objects.filter(pk=summary.pk).update(content={"decisions": "not a list", "resident": None})
    assert client.get(reverse("meetings:outcome_summary", args=[published.team.slug, summary.pk])).status_code == 200
