"""`make loadtest`: serve the demo with gunicorn on 127.0.0.1 and run locust headless against it.

Bounded: 20 users for at most 2 minutes, loopback only. Prints p50/p95/p99 and errors per page.
"""

import csv
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
USERS, SPAWN_RATE, RUN_TIME = 20, 5, os.environ.get("LOADTEST_RUN_TIME", "90s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> int:
    environment = {
        **os.environ,
        "INT_DEMO_MODE": "true",
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY", "loadtest-only-not-secret"),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_SECURE_COOKIES": "false",
        "INT_STATIC_MANIFEST": "false",
        "LOG_LEVEL": "WARNING",
    }
    python = str(BIN / "python")
    subprocess.run([python, "manage.py", "migrate", "--no-input", "-v0"], cwd=ROOT, env=environment, check=True)
    subprocess.run([python, "manage.py", "seed_demo", "--once"], cwd=ROOT, env=environment, check=True)
    port = free_port()
    host = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "int_app.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "3", "--log-level", "warning"],
        cwd=ROOT,
        env=environment,
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{host}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        stats = ROOT / ".data" / "loadtest"
        stats.parent.mkdir(exist_ok=True)
        subprocess.run(
            [str(BIN / "locust"), "-f", str(ROOT / "scripts" / "locustfile.py"), "--headless", "--host", host,
             "-u", str(USERS), "-r", str(SPAWN_RATE), "--run-time", RUN_TIME, "--stop-timeout", "10",
             "--csv", str(stats), "--only-summary", "--loglevel", "WARNING"],
            cwd=ROOT, env=environment, timeout=180, check=False,
        )
        with open(f"{stats}_stats.csv") as handle:
            rows = list(csv.DictReader(handle))
        for row in rows:
            print(
                f"bench load page={row['Name'].replace(' ', '_')} requests={row['Request Count']} "
                f"errors={row['Failure Count']} p50_ms={row['50%']} p95_ms={row['95%']} p99_ms={row['99%']}"
            )
        total = next(row for row in rows if row["Name"] == "Aggregated")
        return 1 if int(total["Failure Count"]) else 0
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)


if __name__ == "__main__":
    sys.exit(main())
