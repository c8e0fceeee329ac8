"""Demo data for the caseload feature, seeded by `manage.py seed_demo` after the organisation."""


def seed_caseload(stdout) -> str:
    # Filled in by the caseload feature; seed_demo calls it on every run, so it must be idempotent.
    return ""
