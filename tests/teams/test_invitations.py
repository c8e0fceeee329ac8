"""Accounts by invitation, as a staff admin and the people they invite would meet them."""

import datetime as dt
import re

import pytest
import time_machine
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from int_app.teams.models import Invitation, Membership, Organisation, User
from int_app.teams.roles import Role

from ..conftest import member
from ..factories import PASSWORD, MembershipFactory, UserFactory

NEW_PASSWORD = "correct-horse-battery-2026"
ORGANISATION = "Birmingham Community Healthcare NHS Foundation Trust"


@pytest.fixture
def trust(db) -> Organisation:
    return Organisation.objects.create(name=ORGANISATION, kind=Organisation.Kind.COMMUNITY_TRUST)


@pytest.fixture
def staff_admin(own_team) -> User:
    """The own team's coordinator, who is also the staff admin for it."""
    admin = member(own_team, Role.COORDINATOR)
    admin.full_name, admin.is_staff = "Sam Staff", True
    admin.save(update_fields=["full_name", "is_staff"])
    return admin


@pytest.fixture
def mail(mailoutbox, django_capture_on_commit_callbacks):
    """Run what a request queues on commit (the worker's email task runs in-process in tests)."""

    class Mail:
        outbox = mailoutbox

        def capture(self):
            return django_capture_on_commit_callbacks(execute=True)

        def link(self, index: int = -1) -> str:
            return re.search(r"(/invitations/accept/[0-9a-f]+/)", self.outbox[index].body).group(1)

    return Mail()


def invite(client, mail, team, trust, **fields):
    data = {
        "email": "jo.bloggs@nhs.net",
        "given_name": "Jo",
        "family_name": "Bloggs",
        "team": team.pk,
        "role": Role.OCCUPATIONAL_THERAPIST,
        "organisation": trust.pk,
    } | fields
    with mail.capture():
        return client.post(reverse("invitation_new"), data)


def accept(client, link: str, password: str = NEW_PASSWORD):
    return client.post(link, {"password1": password, "password2": password})


# --- Inviting one person ------------------------------------------------------------------------


def test_a_staff_admin_invites_someone_who_gets_an_account_they_cannot_use_yet_and_an_email(
    client, own_team, staff_admin, trust, mail
):
    client.force_login(staff_admin)
    response = invite(client, mail, own_team, trust, email="Jo.Bloggs@NHS.net")
    assert response.status_code == 302 and response["Location"] == reverse("invitations")

    jo = User.objects.get(email="jo.bloggs@nhs.net")
    assert jo.full_name == "Jo Bloggs" and jo.is_active and not jo.has_usable_password()
    assert Membership.objects.get(user=jo).role == Role.OCCUPATIONAL_THERAPIST
    invitation = Invitation.objects.get(user=jo)
    assert (invitation.team, invitation.invited_by, invitation.organisation) == (own_team, staff_admin, trust)
    assert invitation.expires_at - invitation.invited_at == dt.timedelta(days=7)
    # Only a hash of the link's token is kept.
    token = mail.link().split("/")[-2]
    assert token not in invitation.token_hash and invitation.token_hash == Invitation.hash_of(token)

    assert [message.to for message in mail.outbox] == [["jo.bloggs@nhs.net"]]
    assert "Own INT" in mail.outbox[0].body and "occupational therapist" in mail.outbox[0].body
    listing = client.get(reverse("invitations"))
    assert "jo.bloggs@nhs.net" in listing.text and "Waiting" in listing.text


def test_someone_invited_cannot_log_in_with_a_password_until_they_accept(client, own_team, staff_admin, trust, mail):
    client.force_login(staff_admin)
    invite(client, mail, own_team, trust)
    client.logout()
    for guess in ("", "!", PASSWORD):
        client.post(reverse("account_login"), {"login": "jo.bloggs@nhs.net", "password": guess})
        assert "_auth_user_id" not in client.session


def test_a_password_reset_sends_nothing_to_someone_whose_invitation_is_waiting(client, own_team, staff_admin, trust, mail):
    client.force_login(staff_admin)
    invite(client, mail, own_team, trust)
    client.logout()
    with mail.capture():
        response = client.post(reverse("account_reset_password"), {"email": "jo.bloggs@nhs.net"})
    assert response.status_code == 302 and len(mail.outbox) == 1, "only the invitation itself"
    accept(client, mail.link())
    client.logout()
    with mail.capture():
        client.post(reverse("account_reset_password"), {"email": "jo.bloggs@nhs.net"})
    assert len(mail.outbox) == 2 and "password" in mail.outbox[-1].subject.lower()


def test_a_staff_admin_invites_only_into_their_own_teams_and_a_superuser_into_any(
    client, own_team, other_team, staff_admin, trust, mail
):
    client.force_login(staff_admin)
    refused = invite(client, mail, other_team, trust)
    assert refused.status_code == 200 and "Select a valid choice" in refused.text
    assert not User.objects.filter(email="jo.bloggs@nhs.net").exists() and mail.outbox == []

    superuser = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(superuser)
    assert invite(client, mail, other_team, trust).status_code == 302
    assert Invitation.objects.get().team == other_team


def test_nobody_but_a_staff_admin_opens_the_invitations_and_a_staff_admin_of_another_team_cannot_touch_ours(
    client, own_team, other_team, staff_admin, trust, mail
):
    client.force_login(staff_admin)
    invite(client, mail, own_team, trust)
    invitation = Invitation.objects.get()
    client.force_login(member(own_team, Role.GP))
    assert client.get(reverse("invitations")).status_code == 403
    assert client.post(reverse("invitation_revoke", args=[invitation.pk])).status_code == 404

    theirs = UserFactory(is_staff=True)
    MembershipFactory(user=theirs, team=other_team, role=Role.COORDINATOR)
    client.force_login(theirs)
    assert "jo.bloggs@nhs.net" not in client.get(reverse("invitations")).text
    assert client.post(reverse("invitation_revoke", args=[invitation.pk])).status_code == 404
    assert client.post(reverse("invitation_resend", args=[invitation.pk])).status_code == 404
    invitation.refresh_from_db()
    assert invitation.revoked_at is None and len(mail.outbox) == 1


def test_an_address_that_has_an_account_whatever_its_case_is_refused(client, own_team, staff_admin, trust, mail):
    client.force_login(staff_admin)
    existing = member(own_team, Role.GP)
    response = invite(client, mail, own_team, trust, email=existing.email.upper())
    assert response.status_code == 200 and "has an account already" in response.text
    assert Invitation.objects.count() == 0 and mail.outbox == []


def test_email_addresses_are_unique_ignoring_case_in_the_database(db):
    UserFactory(email="jo@example.nhs.uk")
    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(email="JO@example.nhs.uk")


def test_a_practice_manager_is_invited_with_their_practice(client, own_team, staff_admin, trust, mail):
    client.force_login(staff_admin)
    without = invite(client, mail, own_team, trust, role=Role.PRACTICE_MANAGER)
    assert "needs the ODS code of their practice" in without.text and not Invitation.objects.exists()
    practice = own_team.practices.first()
    assert invite(client, mail, own_team, trust, role=Role.PRACTICE_MANAGER, practice=practice.pk).status_code == 302
    assert Membership.objects.get(user__email="jo.bloggs@nhs.net").practice == practice


# --- Accepting ------------------------------------------------------------------------------------


def test_the_link_sets_a_password_signs_the_person_in_and_sends_them_to_set_up_the_app(
    client, own_team, staff_admin, trust, mail
):
    client.force_login(staff_admin)
    invite(client, mail, own_team, trust)
    client.logout()
    link = mail.link()
    page = client.get(link)
    assert page.status_code == 200 and "Join Own INT" in page.text and "Sam Staff invited you" in page.text

    mismatch = client.post(link, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD + "x"})
    assert mismatch.status_code == 200 and "not the same" in mismatch.text
    too_short = accept(client, link, "short")
    assert too_short.status_code == 200 and "too short" in too_short.text

    response = accept(client, link)
    assert response.status_code == 302 and response["Location"] == reverse("mfa_activate_totp")
    jo = User.objects.get(email="jo.bloggs@nhs.net")
    assert client.session["_auth_user_id"] == str(jo.pk)
    assert jo.check_password(NEW_PASSWORD)
    assert Invitation.objects.get().accepted_at is not None
    # The app's set-up page opens without asking for the password again.
    assert client.get(reverse("mfa_activate_totp")).status_code == 200


def test_a_used_link_is_refused_with_a_page_that_says_so(client, own_team, staff_admin, trust, mail):
    client.force_login(staff_admin)
    invite(client, mail, own_team, trust)
    client.logout()
    accept(client, mail.link())
    client.logout()
    again = client.get(mail.link())
    assert again.status_code == 410 and "has been used already" in again.text
    assert accept(client, mail.link(), "another-password-2026").status_code == 410
    assert User.objects.get(email="jo.bloggs@nhs.net").check_password(NEW_PASSWORD)


def test_a_link_expires_after_seven_days(client, own_team, staff_admin, trust, mail):
    with time_machine.travel(dt.datetime(2027, 3, 1, 9, 0, tzinfo=dt.UTC), tick=False):
        client.force_login(staff_admin)
        invite(client, mail, own_team, trust)
    client.logout()
    with time_machine.travel(dt.datetime(2027, 3, 8, 8, 59, tzinfo=dt.UTC), tick=False):
        assert client.get(mail.link()).status_code == 200
    with time_machine.travel(dt.datetime(2027, 3, 8, 9, 0, tzinfo=dt.UTC), tick=False):
        expired = client.get(mail.link())
        assert expired.status_code == 410 and "It expired on 8 March 2027" in expired.text
        assert accept(client, mail.link()).status_code == 410
    assert not User.objects.get(email="jo.bloggs@nhs.net").has_usable_password()


def test_sending_again_kills_the_old_link_and_gives_seven_more_days(client, own_team, staff_admin, trust, mail):
    with time_machine.travel(dt.datetime(2027, 3, 1, 9, 0, tzinfo=dt.UTC), tick=False):
        client.force_login(staff_admin)
        invite(client, mail, own_team, trust)
    old_link = mail.link()
    invitation = Invitation.objects.get()
    with time_machine.travel(dt.datetime(2027, 3, 10, 9, 0, tzinfo=dt.UTC), tick=False):
        client.force_login(staff_admin)
        listing = client.get(reverse("invitations"))
        assert "Expired" in listing.text
        with mail.capture():
            response = client.post(reverse("invitation_resend", args=[invitation.pk]))
        assert response.status_code == 302
        new_link = mail.link()
        assert new_link != old_link and len(mail.outbox) == 2
        client.logout()
        dead = client.get(old_link)
        assert dead.status_code == 404 and "use the newest" in dead.text
        assert accept(client, new_link).status_code == 302
    invitation.refresh_from_db()
    assert invitation.times_sent == 2 and invitation.expires_at == dt.datetime(2027, 3, 17, 9, 0, tzinfo=dt.UTC)


def test_revoking_switches_the_waiting_account_off_kills_the_link_and_allows_a_new_invitation(
    client, own_team, staff_admin, trust, mail
):
    client.force_login(staff_admin)
    invite(client, mail, own_team, trust)
    invitation = Invitation.objects.get()
    response = client.post(reverse("invitation_revoke", args=[invitation.pk]))
    assert response.status_code == 302
    jo = User.objects.get(email="jo.bloggs@nhs.net")
    assert not jo.is_active
    assert client.get(reverse("invitations")).text.count("Revoked") >= 1
    # Revoking again, or sending a revoked invitation again, is refused with a message.
    again = client.post(reverse("invitation_resend", args=[invitation.pk]), follow=True)
    assert "was revoked" in again.text and len(mail.outbox) == 1
    client.logout()
    withdrawn = client.get(mail.link())
    assert withdrawn.status_code == 410 and "withdrawn" in withdrawn.text

    client.force_login(staff_admin)
    assert invite(client, mail, own_team, trust).status_code == 302
    jo.refresh_from_db()
    assert jo.is_active and Invitation.objects.filter(user=jo).count() == 2


def test_a_signed_in_person_opening_someone_elses_link_is_asked_to_log_out(client, own_team, staff_admin, trust, mail):
    client.force_login(staff_admin)
    invite(client, mail, own_team, trust)
    page = client.get(mail.link())
    assert page.status_code == 200 and "log out first" in page.text
    accept(client, mail.link())
    assert Invitation.objects.get().accepted_at is None
    assert client.session["_auth_user_id"] == str(staff_admin.pk)


def test_each_move_is_in_the_audit_trail_with_its_name(client, own_team, staff_admin, trust, mail):
    client.force_login(staff_admin)
    invite(client, mail, own_team, trust)
    invitation = Invitation.objects.get()
    with mail.capture():
        client.post(reverse("invitation_resend", args=[invitation.pk]))
    client.logout()
    accept(client, mail.link())
    changes = apps.get_model("audit", "InvitationChange").objects.filter(pgh_obj_id=invitation.pk).order_by("pgh_id")
    moves = [change.pgh_context.metadata.get("invitation") for change in changes]
    assert moves[0] == "invited" and "resent" in moves and moves[-1] == "accepted"
    assert all("token_hash" not in vars(change) for change in changes)


# --- A CSV file of people -----------------------------------------------------------------------


def upload(client, mail, text: str):
    with mail.capture():
        return client.post(reverse("invitation_upload"), {"file": SimpleUploadedFile("people.csv", text.encode(), "text/csv")})


GOOD_CSV = f"""email,given_name,family_name,team,role,organisation
ann.lee@nhs.net,Ann,Lee,own,occupational_therapist,{ORGANISATION}
bob.khan@nhs.net,Bob,Khan,Own INT,Social worker,{ORGANISATION.upper()}
"""


def test_a_csv_file_invites_everyone_in_it(client, own_team, staff_admin, trust, mail):
    client.force_login(staff_admin)
    response = upload(client, mail, GOOD_CSV)
    assert response.status_code == 302
    assert set(Invitation.objects.values_list("email", "role")) == {
        ("ann.lee@nhs.net", Role.OCCUPATIONAL_THERAPIST),
        ("bob.khan@nhs.net", Role.SOCIAL_WORKER),
    }
    assert sorted(message.to[0] for message in mail.outbox) == ["ann.lee@nhs.net", "bob.khan@nhs.net"]


def test_a_csv_file_with_a_bad_line_invites_nobody_and_says_what_is_wrong_on_which_line(
    client, own_team, other_team, staff_admin, trust, mail
):
    client.force_login(staff_admin)
    users_before = User.objects.count()
    bad = f"""email,given_name,family_name,team,role,organisation
ann.lee@nhs.net,Ann,Lee,own,occupational_therapist,{ORGANISATION}
not-an-email,Bob,Khan,own,social_worker,{ORGANISATION}
cy@nhs.net,Cy,Moe,other,gp,{ORGANISATION}
di@nhs.net,Di,Roe,own,wizard,Nobody Ltd
ann.lee@nhs.net,Ann,Lee,own,gp,{ORGANISATION}
{member(own_team, Role.GP).email},Ed,Poe,own,gp,{ORGANISATION}
"""
    response = upload(client, mail, bad)
    assert response.status_code == 400
    assert "Nobody was invited" in response.text
    problems = re.findall(r'<td class="nhsuk-table__cell">(\d+)</td><td class="nhsuk-table__cell">([^<]+)</td>', response.text)
    by_line = {int(line): message for line, message in problems}
    assert set(by_line) == {3, 4, 5, 6, 7}
    assert "is not an email address" in by_line[3]
    assert "not one of your teams" in by_line[4]
    assert "is not a role" in response.text and "no organisation called" in response.text
    assert "is on line 2 already" in by_line[6]
    assert "has an account already" in by_line[7]
    assert User.objects.count() == users_before and not Invitation.objects.exists() and mail.outbox == []


@pytest.mark.parametrize(
    "content, message",
    [
        ("name,email\nJo,jo@nhs.net\n", "The first line must be"),
        ("email,given_name,family_name,team,role,organisation\n", "names nobody to invite"),
        ("email,given_name,family_name,team,role,organisation\njo@nhs.net,Jo\n", "Expected 6 values, found 2"),
        ('email,given_name,family_name,team,role,organisation\n"jo@nhs.net,Jo,B,own,gp,x\n', "cannot be read as CSV"),
    ],
)
def test_a_file_that_is_not_the_expected_csv_is_refused_plainly(client, own_team, staff_admin, trust, mail, content, message):
    client.force_login(staff_admin)
    response = upload(client, mail, content)
    assert response.status_code == 400 and message in response.text
    assert not Invitation.objects.exists()


def test_a_file_that_is_not_utf8_is_refused(client, own_team, staff_admin, trust, mail):
    client.force_login(staff_admin)
    with mail.capture():
        response = client.post(
            reverse("invitation_upload"),
            {"file": SimpleUploadedFile("people.csv", "email\né".encode("latin-1"), "text/csv")},
        )
    assert response.status_code == 400 and "not UTF-8" in response.text


def test_the_invitations_list_reads_in_a_fixed_number_of_queries(
    client, own_team, staff_admin, trust, mail, django_assert_max_num_queries
):
    client.force_login(staff_admin)
    upload(client, mail, GOOD_CSV)
    client.get(reverse("invitations"))
    with django_assert_max_num_queries(8) as few:
        client.get(reverse("invitations"))
    queries = len(few.captured_queries)  # read now: the next request empties the log
    many_csv = "email,given_name,family_name,team,role,organisation\n" + "".join(
        f"p{n}@nhs.net,P,N{n},own,gp,{ORGANISATION}\n" for n in range(12)
    )
    upload(client, mail, many_csv)
    client.get(reverse("invitations"))  # shows (and so deletes) the "sent" message, as before
    with django_assert_max_num_queries(queries):
        response = client.get(reverse("invitations"))
    assert response.text.count("Send again") == 14


def test_the_invitation_email_is_not_sent_for_an_invitation_resent_or_revoked_since_it_was_queued(
    client, own_team, staff_admin, trust, mail
):
    from int_app.teams.invitations import invitation_email_send

    client.force_login(staff_admin)
    invite(client, mail, own_team, trust)
    invitation = Invitation.objects.get()
    old_salt = invitation.token_salt
    with mail.capture():
        client.post(reverse("invitation_resend", args=[invitation.pk]))
    assert invitation_email_send(invitation_id=invitation.pk, salt=old_salt) is False
    Invitation.objects.filter(pk=invitation.pk).update(revoked_at=timezone.now())
    assert invitation_email_send(invitation_id=invitation.pk, salt=Invitation.objects.get().token_salt) is False
    assert len(mail.outbox) == 2
