import pytest

from int_app.teams.roles import Role

from ..conftest import member


@pytest.fixture
def gp(own_team):
    return member(own_team, Role.GP)


@pytest.fixture
def social_worker(own_team):
    return member(own_team, Role.SOCIAL_WORKER)


@pytest.fixture
def pcn_lead(own_team):
    return member(own_team, Role.PCN_LEAD)
