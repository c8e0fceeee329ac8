"""Demo data for the meetings feature, seeded by `manage.py seed_demo` after the organisation."""


def seed_meetings(stdout) -> str:
    # Filled in by the meetings feature; seed_demo calls it on every run, so it must be idempotent.
    return ""
