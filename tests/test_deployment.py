"""The deployment files point at things that exist.

No Docker engine runs here, so these tests read docker-compose.yml and the Dockerfile and check
what they promise against the code: every command names a real module, app or management
command; nothing listens beyond loopback; one beat; PostgreSQL 18 with a health check.
"""

from __future__ import annotations

import importlib
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from celery import Celery
from celery.app.utils import find_app
from celery.bin.celery import celery as celery_cli
from django.conf import settings
from django.core.management import call_command, get_commands
from gunicorn.config import Config as GunicornConfig

ROOT = Path(__file__).resolve().parent.parent
REQUIRED_SERVICES = {"web", "worker", "beat", "postgres", "redis"}
APP_SERVICES_WAITING_FOR_POSTGRES = ("web", "worker", "beat")
LOOPBACK = "127.0.0.1"
THIRD_PARTY_IMAGES = {"postgres", "redis"}


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def runs_our_code(service: dict[str, Any]) -> bool:
    return "build" in service or service.get("image", "").split(":")[0] not in THIRD_PARTY_IMAGES


def as_argv(command: str | list[Any]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, arguments = line.partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def dockerfile_arguments(keyword: str) -> list[str]:
    return [arguments for found, arguments in dockerfile_instructions() if found == keyword]


def dockerfile_cmd() -> list[str]:
    commands = dockerfile_arguments("CMD")
    assert commands, "the Dockerfile has no CMD"
    last = commands[-1]  # as in Docker, only the last CMD counts
    return json.loads(last) if last.startswith("[") else shlex.split(last)


def missing_attribute(module_name: str, attribute: str) -> str | None:
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        return f"cannot import {module_name!r}: {error}"
    if not callable(getattr(module, attribute, None)):
        return f"{module_name!r} has no callable {attribute!r}"
    return None


def celery_app_and_subcommand(options: list[str]) -> tuple[str | None, str | None]:
    app_name, subcommand = None, None
    arguments = iter(options)
    for argument in arguments:
        if argument in {"-A", "--app"}:
            app_name = next(arguments, None)
        elif argument.startswith("--app="):
            app_name = argument.removeprefix("--app=")
        elif argument.startswith("-A") and len(argument) > 2:
            app_name = argument[2:]
        elif not argument.startswith("-") and subcommand is None:
            subcommand = argument
    return app_name, subcommand


def what_is_missing(argv: list[str]) -> str | None:
    """None when the program's target exists; otherwise what is wrong, for the failure message.

    An unknown program is a failure too, so a new command cannot slip in unchecked."""
    match argv:
        case ["gunicorn", *options]:
            targets = GunicornConfig().parser().parse_args(options).args
            if len(targets) != 1:
                return f"gunicorn should name one application, not {targets!r}"
            module_name, _, attribute = targets[0].partition(":")
            return missing_attribute(module_name, attribute or "application")
        case ["celery", *options]:
            app_name, subcommand = celery_app_and_subcommand(options)
            if app_name is None:
                return "celery needs -A <module> to find the app"
            try:
                app = find_app(app_name)
            except (ImportError, AttributeError) as error:
                return f"celery -A {app_name}: {error}"
            if not isinstance(app, Celery):
                return f"celery -A {app_name} finds {app!r}, not a Celery app"
            if subcommand not in celery_cli.commands:
                return f"celery has no subcommand {subcommand!r}"
            return None
        case ["python" | "python3", "manage.py", command_name, *_]:
            if command_name not in get_commands():
                return f"manage.py has no command {command_name!r}"
            return None
        case _:
            return f"no check knows {argv!r}: teach what_is_missing about this program"


def host_ip_of(port: str | int | dict[str, Any]) -> str | None:
    if isinstance(port, dict):  # long syntax: {target, published, host_ip}
        return port.get("host_ip")
    parts = str(port).split(":")
    return parts[0] if len(parts) == 3 else None  # "8000" and "8000:8000" bind every interface


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return dict(item.partition("=")[::2] for item in environment)
    return {name: "" if value is None else str(value) for name, value in environment.items()}


def default_of(value: str) -> str:
    """What `${NAME:-default}` gives when NAME is unset; a plain value as it is."""
    match = re.fullmatch(r"\$\{\w+:?-(.*)\}", value)
    return match.group(1) if match else value


def variables_settings_reads() -> set[str]:
    source = (ROOT / "int_app" / "settings.py").read_text()
    return set(re.findall(r"(?:env_\w+|os\.environ\.get)\(\s*\"([A-Z0-9_]+)\"", source))


def test_the_five_services_are_there():
    assert REQUIRED_SERVICES <= services().keys()


def test_every_port_on_the_host_is_bound_to_loopback_only():
    published = [(name, port) for name, service in services().items() for port in service.get("ports", [])]
    assert published, "web should publish its port on the host"
    assert [(name, port) for name, port in published if host_ip_of(port) != LOOPBACK] == []
    assert [name for name, service in services().items() if service.get("network_mode") == "host"] == []


def test_postgres_is_version_18_with_a_pg_isready_healthcheck_and_a_named_volume():
    postgres = services()["postgres"]
    assert postgres["image"].split(":")[0] == "postgres"
    assert postgres["image"].split(":")[1].startswith("18")
    assert "pg_isready" in " ".join(as_argv(postgres["healthcheck"]["test"]))
    named_volumes = compose().get("volumes") or {}
    # PostgreSQL 18 images keep data under a versioned directory of /var/lib/postgresql.
    mounts = [volume.split(":") for volume in postgres["volumes"]]
    assert any(source in named_volumes and target == "/var/lib/postgresql" for source, target, *_ in mounts)


def test_beat_runs_as_exactly_one_replica():
    assert services()["beat"]["deploy"]["replicas"] == 1


def test_only_the_beat_service_sends_periodic_tasks():
    def runs_beat(argv: list[str]) -> bool:
        _, subcommand = celery_app_and_subcommand(argv[1:])
        return argv[:1] == ["celery"] and (subcommand == "beat" or "-B" in argv or "--beat" in argv)

    commands = {name: as_argv(service["command"]) for name, service in services().items() if "command" in service}
    assert [name for name, argv in commands.items() if runs_beat(argv)] == ["beat"]


def test_every_service_command_names_something_that_exists():
    commands = {
        name: as_argv(service["command"])
        for name, service in services().items()
        if "command" in service and runs_our_code(service)
    }
    assert {"web", "worker", "beat"} <= commands.keys()
    assert {name: what_is_missing(argv) for name, argv in commands.items()} == dict.fromkeys(commands)


@pytest.mark.parametrize(
    "command",
    [
        "gunicorn int_app.wsgy:application",
        "gunicorn int_app.wsgi:app",
        "celery -A int_ap worker",
        "celery -A int_app.wsgi worker",
        "celery -A int_app wrker",
        "python manage.py migrat --no-input",
        "sh -c 'python manage.py migrate && gunicorn int_app.wsgi:application'",
    ],
)
def test_a_command_naming_something_that_does_not_exist_is_caught(command):
    assert what_is_missing(as_argv(command)) is not None


def test_the_app_waits_for_a_healthy_postgres_and_for_migrations():
    all_services = services()
    for name in APP_SERVICES_WAITING_FOR_POSTGRES:
        depends_on = all_services[name]["depends_on"]
        assert depends_on["postgres"]["condition"] == "service_healthy", name
        if "migrate" in all_services:
            assert depends_on["migrate"]["condition"] == "service_completed_successfully", name


def test_web_keeps_database_connections_open_between_requests():
    assert default_of(environment_of(services()["web"])["DATABASE_CONN_MAX_AGE"]) == "600"


def test_secrets_must_come_from_the_environment():
    text = (ROOT / "docker-compose.yml").read_text()
    for name in ("DJANGO_SECRET_KEY", "POSTGRES_PASSWORD", "DJANGO_ALLOWED_HOSTS"):
        assert f"${{{name}:?" in text, f"{name} should be required with ${{{name}:?message}}"


def test_every_variable_given_to_the_app_is_one_settings_reads():
    read = variables_settings_reads()
    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL"} <= read  # the pattern still finds them
    for name, service in services().items():
        if runs_our_code(service):
            assert environment_of(service).keys() - read == set(), name


def test_the_web_healthcheck_asks_a_page_that_answers_without_login_or_database(client):
    assert "/healthz" in " ".join(as_argv(services()["web"]["healthcheck"]["test"]))
    # No `db` fixture: any query here would fail the test.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_the_dockerfile_cmd_serves_the_wsgi_app_on_port_8000():
    cmd = dockerfile_cmd()
    assert what_is_missing(cmd) is None
    assert cmd[:2] == ["gunicorn", "int_app.wsgi:application"]
    assert GunicornConfig().parser().parse_args(cmd[1:]).bind == ["0.0.0.0:8000"]
    assert dockerfile_arguments("EXPOSE") == ["8000"]


def test_the_dockerfile_runs_the_python_named_in_python_version_as_a_non_root_user():
    python_version = (ROOT / ".python-version").read_text().strip()
    assert dockerfile_arguments("FROM")[0] == f"python:{python_version}-slim"
    users = dockerfile_arguments("USER")
    assert users and users[-1] not in {"root", "0"}
    assert any("collectstatic" in arguments for arguments in dockerfile_arguments("RUN"))


def test_the_dockerfile_copies_every_app_the_settings_install():
    copied = {arguments.split()[0].rstrip("/") for arguments in dockerfile_arguments("COPY")}
    local_packages = {app.split(".")[0] for app in settings.INSTALLED_APPS if (ROOT / app.split(".")[0]).is_dir()}
    assert local_packages
    assert local_packages | {"manage.py", "templates", "static"} <= copied


def test_python_version_names_3_12():
    assert re.fullmatch(r"3\.12(\.\d+)?", (ROOT / ".python-version").read_text().strip())


def vendored_paths_listed() -> list[str]:
    versions = (ROOT / "static" / "vendor" / "VERSIONS.md").read_text()
    rows = [line for line in versions.splitlines() if line.startswith("|")]
    paths = []
    for row in rows[2:]:  # after the header and its |---| line
        files_column = row.split("|")[3]
        found = re.findall(r"(?<![\w{%])[\w.-]+/[\w./-]*", files_column)
        assert found, f"no file named in {row!r}"
        paths.extend(found)
    return paths


def test_every_vendored_file_listed_in_versions_md_exists():
    vendor = ROOT / "static" / "vendor"
    listed = vendored_paths_listed()
    missing = [path for path in listed if not (vendor / path).is_file() and not any((vendor / path).glob("*"))]
    assert missing == []
    # And the other way round: nothing sits in static/vendor without a version on record.
    listed_directories = {path.split("/")[0] for path in listed}
    assert {child.name for child in vendor.iterdir() if child.is_dir()} == listed_directories


def test_collectstatic_succeeds_with_the_production_storage_and_hashes_every_file_the_templates_use(
    settings, tmp_path
):
    """What `docker build` runs: the manifest storage fails on a CSS url() to a missing file."""
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    call_command("collectstatic", interactive=False, verbosity=0)
    manifest = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
    template_text = "".join(path.read_text() for path in (ROOT / "templates").rglob("*.html"))
    used = set(re.findall(r"{%\s*static\s+['\"]([^'\"]+)['\"]", template_text))
    if "{% htmx_script" in template_text:
        used.add("django_htmx/htmx-2.min.js")  # the name django-htmx asks the storage for
    assert used
    assert used - manifest.keys() == set()


def test_every_model_change_has_its_migration(db):
    """`migrate` on a deployment makes the tables the models describe: a model changed without its
    migration (an option, a field) would leave the two apart, unseen until an operator runs
    makemigrations. Found once: an unmanaged model's table named in its options but not in its
    migration."""
    try:
        call_command("makemigrations", "--check", "--dry-run", verbosity=0)
    except SystemExit as missing:
        pytest.fail(f"A model has changed without its migration (makemigrations --check exited {missing.code}).")
