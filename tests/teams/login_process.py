"""One web process, for tests/teams/test_shared_cache.py: it signs in with a password, waits for a
TOTP code on stdin, offers it as the second step of that login, and prints what happened.

Run as `python -m tests.teams.login_process EMAIL PASSWORD` with the test database's DATABASE_URL
and the tests' REDIS_URL: all it shares with another such process is the database and Redis.
"""

import sys

import django


def main(email: str, password: str) -> None:
    django.setup()
    from django.test import Client, override_settings
    from django.test.utils import setup_test_environment

    setup_test_environment()  # lets the test client's "testserver" host in
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        client = Client()
        response = client.post("/accounts/login/", {"login": email, "password": password})
        print(f"password {response.status_code} {response.get('Location', '')}", flush=True)
        code = sys.stdin.readline().strip()
        client.post("/accounts/2fa/authenticate/", {"code": code})
        print("accepted" if "_auth_user_id" in client.session else "refused", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])
