"""The audit trail: who changed what, and nobody can rewrite it. (Who opened which record is the
caseload's access log: tests/caseload/test_access_log.py.)"""

import pytest
from django.db import InternalError, transaction
from django.urls import reverse

from ..factories import ResidentFactory


def changes_of(resident):
    from django.apps import apps

    return apps.get_model("audit", "ResidentChange").objects.filter(pgh_obj_id=resident.pk).order_by("pgh_id")


def test_every_change_to_a_resident_is_recorded_even_a_bulk_update(own_team):
    resident = ResidentFactory(team=own_team, referral_reason="Falls")
    type(resident).objects.filter(pk=resident.pk).update(referral_reason="Falls and isolation")
    labels = [(change.pgh_label, change.referral_reason) for change in changes_of(resident)]
    assert labels == [("insert", "Falls"), ("update", "Falls and isolation")]


def test_a_change_made_through_the_app_records_who_and_from_which_page(client, own_team, coordinator):
    resident = ResidentFactory(team=own_team)
    client.force_login(coordinator)
    client.post(
        reverse("caseload:triage", args=[own_team.slug, resident.pk]),
        {
            "decision": "not_accept",
            "not_accepted_reason": "needs_met_elsewhere",
            "not_accepted_detail": "District nurses already visit",
            "on": resident.referral_date.isoformat(),
            "version": resident.version,
        },
    )
    latest = changes_of(resident).last()
    assert latest.pgh_label == "update"
    assert latest.pgh_context.metadata["user"] == coordinator.pk
    assert latest.pgh_context.metadata["url"].endswith(f"/residents/{resident.pk}/triage/")


def test_the_application_cannot_alter_or_delete_audit_rows(own_team):
    resident = ResidentFactory(team=own_team)
    for attempt in (
        lambda: changes_of(resident).update(referral_reason="rewritten"),
        lambda: changes_of(resident).delete(),
    ):
        with pytest.raises(InternalError), transaction.atomic():
            attempt()
    assert changes_of(resident).count() == 1
