from django.urls import reverse

from int_app.teams.models import Team
from int_app.teams.roles import Role

from ..conftest import member
from ..factories import UserFactory


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
    from django.contrib.auth.models import Permission

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
