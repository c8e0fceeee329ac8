"""The demo: eight weeks of meetings with minutes, the next ones drafted, actions in every state."""

from django.core.management import call_command
from django.db.models import F

from meetings.demo import seed_meetings
from meetings.models import Action, AgendaItem, Decision, Meeting, OutcomeSummary


def test_the_demo_has_a_history_of_meetings_the_next_ones_drafted_and_seeds_only_once(db, settings):
    settings.DEMO_MODE = True
    call_command("seed_demo")  # the caseload's residents first, then the meetings

    for slug in ("east", "west"):
        held = Meeting.objects.filter(team__slug=slug, status=Meeting.Status.HELD)
        assert held.count() == 16, "two series, eight weeks back"
        assert not held.filter(minutes_published_at__isnull=True).exists()
        upcoming = Meeting.objects.filter(team__slug=slug, status=Meeting.Status.SCHEDULED)
        assert upcoming.count() >= 7
        assert AgendaItem.objects.filter(meeting__in=upcoming).exists(), "the next meetings have draft agendas"
        assert not upcoming.filter(agenda_published_at__isnull=False).exists()

    assert set(Action.objects.values_list("status", flat=True)) == set(Action.Status.values)
    assert Action.objects.overdue().exists()
    assert Decision.objects.filter(is_clinical=True, signed_at__isnull=False).exists()
    assert Decision.objects.awaiting_sign_off().exists()
    assert AgendaItem.objects.filter(outcome=AgendaItem.Outcome.NOT_REACHED).exists()
    # The last two weeks' residents discussed each have an outcome summary: sent, or held back at
    # the practice with no shared mailbox.
    last_two = [
        pk
        for series_id in Meeting.objects.values_list("series_id", flat=True).distinct()
        for pk in Meeting.objects.filter(series_id=series_id, status=Meeting.Status.HELD).order_by("-starts_at").values_list("pk", flat=True)[:2]
    ]
    recent = AgendaItem.objects.filter(outcome=AgendaItem.Outcome.DISCUSSED, meeting__in=last_two)
    assert OutcomeSummary.objects.filter(agenda_item__in=recent).count() == recent.count() == OutcomeSummary.objects.count() > 0
    assert set(OutcomeSummary.objects.values_list("status", flat=True)) == {OutcomeSummary.Status.SENT, OutcomeSummary.Status.NO_MAILBOX}
    assert not OutcomeSummary.objects.filter(status=OutcomeSummary.Status.SENT, sent_at__lt=F("created_at")).exists()

    counts = (Meeting.objects.count(), AgendaItem.objects.count(), Action.objects.count())
    assert seed_meetings(None) == "Meetings: already loaded."
    assert (Meeting.objects.count(), AgendaItem.objects.count(), Action.objects.count()) == counts


def test_without_residents_the_demo_makes_the_meetings_only(db, settings, monkeypatch):
    import caseload.demo

    settings.DEMO_MODE = True
    monkeypatch.setattr(caseload.demo, "seed_caseload", lambda stdout: "")
    call_command("seed_demo")
    assert Meeting.objects.filter(team__slug="east").exists()
    assert not AgendaItem.objects.exists() and not Action.objects.exists()
