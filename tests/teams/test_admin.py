from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django.utils import timezone

from int_app.teams.models import Team, User
from int_app.teams.roles import Role

from ..conftest import member
from ..factories import MembershipFactory, OrganisationFactory, UserFactory


def test_a_team_member_who_is_not_staff_cannot_open_the_admin(client, coordinator):
    client.force_login(coordinator)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_a_superuser_sets_up_every_team(client, own_team, other_team):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = client.get(reverse("admin:teams_team_changelist"))
    assert response.status_code == 200
    assert "Own INT" in response.text and "Other INT" in response.text


def test_a_staff_admin_of_one_team_sees_only_that_team_in_the_admin(client, own_team, other_team):
    admin = member(own_team, Role.COORDINATOR)
    admin.is_staff = True
    admin.save(update_fields=["is_staff"])
    admin.user_permissions.add(*Permission.objects.filter(content_type__app_label="teams"))
    client.force_login(admin)
    page = client.get(reverse("admin:teams_team_changelist"))
    assert "Own INT" in page.text and "Other INT" not in page.text
    other = Team.objects.get(pk=other_team.pk)
    assert client.get(reverse("admin:teams_team_change", args=[other.pk])).status_code in {302, 404}
    members = client.get(reverse("admin:teams_membership_changelist"))
    assert member(other_team, Role.GP).full_name not in members.text


# --- Nobody raises their own rights through the admin ------------------------------------------


def staff_admin_of(team: Team) -> User:
    """The team's coordinator, made a staff admin with every permission there is."""
    admin = member(team, Role.COORDINATOR)
    admin.is_staff = True
    admin.save(update_fields=["is_staff"])
    admin.user_permissions.set(Permission.objects.all())
    return admin


def membership_form(user: User, team: Team, **fields) -> dict:
    return {"user": user.pk, "team": team.pk, "role": Role.OCCUPATIONAL_THERAPIST,
            "organisation": OrganisationFactory().pk, **fields}


def person_form(person: User, *memberships: dict, **fields) -> dict:
    """The change page of a person as the browser sends it, with their memberships inline."""
    joined = timezone.localtime(person.date_joined)
    form = {
        "email": person.email, "full_name": person.full_name, "is_active": "on",
        "date_joined_0": joined.strftime("%Y-%m-%d"), "date_joined_1": joined.strftime("%H:%M:%S"),
        "memberships-TOTAL_FORMS": str(len(memberships)), "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0", "memberships-MAX_NUM_FORMS": "1000",
        **fields,
    }
    for index, membership in enumerate(memberships):
        form.update({f"memberships-{index}-{name}": value for name, value in membership.items()})
    return form


def test_a_staff_admin_cannot_give_themselves_a_membership_in_another_team(client, own_team, other_team):
    admin = staff_admin_of(own_team)
    client.force_login(admin)

    page = client.post(reverse("admin:teams_membership_add"), membership_form(admin, other_team))
    assert page.status_code == 200 and "Select a valid choice" in page.text

    inline = {"team": other_team.pk, "role": Role.GP, "organisation": OrganisationFactory().pk}
    page = client.post(reverse("admin:teams_user_change", args=[admin.pk]), person_form(admin, inline))
    assert page.status_code == 200 and "Select a valid choice" in page.text

    team_page = client.post(reverse("admin:teams_team_change", args=[other_team.pk]), {
        "name": other_team.name, "slug": other_team.slug, "neighbourhood": other_team.neighbourhood_id,
        "memberships-TOTAL_FORMS": "1", "memberships-INITIAL_FORMS": "0",
        "memberships-0-user": admin.pk, "memberships-0-role": Role.GP,
        "memberships-0-organisation": OrganisationFactory().pk,
    })
    assert team_page["Location"] == reverse("admin:index")
    assert not admin.memberships.filter(team=other_team).exists()


def test_a_staff_admin_cannot_make_themselves_a_superuser(client, own_team):
    admin = staff_admin_of(own_team)
    client.force_login(admin)
    page = client.get(reverse("admin:teams_user_change", args=[admin.pk]))
    for privilege in ("is_staff", "is_superuser", "groups", "user_permissions"):
        assert f'name="{privilege}"' not in page.text

    group = Group.objects.create(name="Everything")
    response = client.post(
        reverse("admin:teams_user_change", args=[admin.pk]),
        person_form(admin, full_name="Renamed Admin", is_staff="on", is_superuser="on", groups=[group.pk]),
    )
    assert response.status_code == 302
    admin.refresh_from_db()
    assert admin.full_name == "Renamed Admin"  # the rest of the form was saved
    assert not admin.is_superuser and admin.is_staff and not admin.groups.exists()


def test_a_staff_admin_cannot_take_over_a_teammate_who_is_also_in_another_team_or_an_admin(client, own_team, other_team):
    admin = staff_admin_of(own_team)
    # New starters, so that nothing else (a resident's key worker, say) holds on to them.
    shared, fellow_admin, plain = UserFactory(), UserFactory(is_staff=True), UserFactory()
    for person in (shared, fellow_admin, plain):
        MembershipFactory(user=person, team=own_team)
    MembershipFactory(user=shared, team=other_team)
    client.force_login(admin)

    for person in (shared, fellow_admin):
        assert client.get(reverse("admin:auth_user_password_change", args=[person.pk])).status_code == 403
        response = client.post(reverse("admin:teams_user_change", args=[person.pk]), person_form(person, email="mine@example.nhs.uk"))
        assert response.status_code == 403
        person.refresh_from_db()
        assert person.email != "mine@example.nhs.uk"
    assert client.get(reverse("admin:auth_user_password_change", args=[plain.pk])).status_code == 200

    # Nor by deleting them from the list: "Delete selected" asks about each person chosen.
    chosen = {"action": "delete_selected", "_selected_action": [shared.pk, fellow_admin.pk, plain.pk]}
    confirmation = client.post(reverse("admin:teams_user_changelist"), chosen)
    assert "Cannot delete users" in confirmation.text
    assert client.post(reverse("admin:teams_user_changelist"), {**chosen, "post": "yes"}).status_code == 403
    assert User.objects.filter(pk__in=[shared.pk, fellow_admin.pk, plain.pk]).count() == 3

    only_plain = {"action": "delete_selected", "_selected_action": [plain.pk], "post": "yes"}
    assert client.post(reverse("admin:teams_user_changelist"), only_plain).status_code == 302
    assert not User.objects.filter(pk=plain.pk).exists()


def test_a_staff_admin_adds_an_account_only_into_one_of_their_teams(client, own_team, other_team):
    client.force_login(staff_admin_of(own_team))
    account = {"email": "new.starter@example.nhs.uk", "full_name": "New Starter",
               "password1": "a-long-new-password-2026", "password2": "a-long-new-password-2026",
               "memberships-TOTAL_FORMS": "1", "memberships-INITIAL_FORMS": "0",
               "memberships-MIN_NUM_FORMS": "1", "memberships-MAX_NUM_FORMS": "1000"}
    organisation = OrganisationFactory().pk

    nowhere = client.post(reverse("admin:teams_user_add"), account)
    elsewhere = client.post(reverse("admin:teams_user_add"), {
        **account, "memberships-0-team": other_team.pk, "memberships-0-role": Role.GP, "memberships-0-organisation": organisation,
    })
    assert nowhere.status_code == elsewhere.status_code == 200
    assert not User.objects.filter(email="new.starter@example.nhs.uk").exists()

    created = client.post(reverse("admin:teams_user_add"), {
        **account, "memberships-0-team": own_team.pk, "memberships-0-role": Role.GP, "memberships-0-organisation": organisation,
    })
    assert created.status_code == 302
    starter = User.objects.get(email="new.starter@example.nhs.uk")
    assert [m.team for m in starter.memberships.all()] == [own_team]
    assert not starter.is_staff and not starter.is_superuser


def test_a_superuser_still_grants_any_membership_and_any_privilege(client, own_team, other_team):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    person = member(own_team, Role.GP)

    response = client.post(reverse("admin:teams_membership_add"), membership_form(person, other_team))
    assert response.status_code == 302
    assert person.memberships.filter(team=other_team).exists()

    response = client.post(reverse("admin:teams_user_change", args=[person.pk]), person_form(person, is_staff="on", is_superuser="on"))
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.is_staff and person.is_superuser


def test_a_staff_admin_finds_only_people_of_their_teams_when_adding_a_member(client, own_team, other_team):
    client.force_login(staff_admin_of(own_team))
    search = {"app_label": "teams", "model_name": "membership", "field_name": "user"}
    found = client.get(reverse("admin:autocomplete"), {**search, "term": "Own"}).json()["results"]
    assert found and all(person["text"].startswith("Own ") for person in found)
    assert client.get(reverse("admin:autocomplete"), {**search, "term": "Other"}).json()["results"] == []
