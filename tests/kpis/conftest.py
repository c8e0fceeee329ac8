import pytest


@pytest.fixture(autouse=True)
def _fresh_figures_cache():
    """The dashboard caches its figures per run; each test starts with none cached."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
