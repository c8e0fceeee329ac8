"""Settings for the INT case-meeting service.

Everything comes from the environment. The defaults are the production-safe ones; `make run`
sets the development values (DEBUG, demo mode, a throwaway secret key).
"""

import datetime
import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from int_app.logs import configure_structlog, logging_config

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise ImproperlyConfigured(f"{name} must be set in the environment.")
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}.")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [part.strip() for part in raw.split(",") if part.strip()]


def database_from_url(url: str) -> dict:
    """Turn postgresql://user:password@host:port/name?host=/socket/dir into Django's dict."""
    parsed = urlparse(url)
    if parsed.scheme not in {"postgres", "postgresql"}:
        raise ImproperlyConfigured(
            f"DATABASE_URL must start with postgresql:// (got {parsed.scheme or 'no scheme'!r}); "
            "this service runs on PostgreSQL only."
        )
    name = unquote(parsed.path.lstrip("/"))
    if not name:
        raise ImproperlyConfigured("DATABASE_URL must name a database, e.g. postgresql://user@host:5432/int")
    query = parse_qs(parsed.query)
    host = query.get("host", [parsed.hostname or ""])[0]
    try:
        port = parsed.port
    except ValueError:
        raise ImproperlyConfigured("DATABASE_URL has a port that is not a number.") from None
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": unquote(parsed.username or ""),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": host,
        "PORT": str(port or ""),
        "CONN_MAX_AGE": env_int("DATABASE_CONN_MAX_AGE", 60),
        "CONN_HEALTH_CHECKS": True,
        "TEST": {"NAME": f"test_{name}"},
    }


DEBUG = env_bool("DJANGO_DEBUG", False)
# Demo mode seeds known passwords and lists the demo accounts on the login page.
DEMO_MODE = env_bool("INT_DEMO_MODE", False)

SECRET_KEY = env_str("DJANGO_SECRET_KEY", "insecure-development-key" if DEBUG else None)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django.contrib.humanize",
    # Django's widget templates, for the form renderer below.
    "django.forms",
    "django_htmx",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    # NHS CIS2 sign-in (OpenID Connect); configured from INT_CIS2_* below, offered only when set.
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "axes",
    "django_structlog",
    "pgtrigger",
    "pghistory",
    "int_app.teams",
    "caseload",
    "pressure",
    "meetings",
    "kpis",
    # The top layer (ADR 0007): after the apps whose models it audits and whose pages it gathers.
    "int_app.audit",
    "int_app.home",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # On a GET, the person and their memberships from the cache, keyed on the data version (ADR 0026).
    "int_app.teams.middleware.person_from_cache",
    "int_app.teams.middleware.no_store_when_signed_in",
    "allauth.account.middleware.AccountMiddleware",
    "allauth.usersessions.middleware.UserSessionsMiddleware",
    # Binds a request id and the user id to every log line of the request.
    "django_structlog.middlewares.RequestMiddleware",
    # PUT, DELETE, PROPFIND...: 405 before any view (logged, and no-store for a signed-in person).
    "int_app.teams.middleware.refuse_other_methods",
    # Tags every change the request makes with its user and URL, for the audit trail.
    "pghistory.middleware.HistoryMiddleware",
    "int_app.teams.middleware.session_lifetime",
    "int_app.teams.middleware.require_mfa",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a lockout raised during login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "int_app.urls"
WSGI_APPLICATION = "int_app.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "int_app.teams.context_processors.navigation",
            ],
        },
    }
]
# Every form field as an NHS.UK form group (templates/nhsuk/field.html).
FORM_RENDERER = "int_app.teams.renderers.NHSFormRenderer"

_database_url = os.environ.get("DATABASE_URL")
if not _database_url:
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. Use `make run` or `make test` (they start an embedded "
        "PostgreSQL under .data/), or set DATABASE_URL=postgresql://user@host:5432/int."
    )
DATABASES = {"default": database_from_url(_database_url)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "teams.User"
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
AUTHENTICATION_BACKENDS = [
    # django-axes first, so a locked-out account is refused before its password is checked.
    "axes.backends.AxesStandaloneBackend",
    # allauth's email-and-password backend, refusing every password when INT_LOCAL_PASSWORDS is off.
    "int_app.teams.accounts.AuthenticationBackend",
]

# Login: django-allauth by email, no self sign-up (staff admins create accounts), MFA by TOTP with
# recovery codes. MFA is required of every account unless INT_REQUIRE_MFA is off (demo mode).
ACCOUNT_ADAPTER = "int_app.teams.accounts.AccountAdapter"
ACCOUNT_FORMS = {
    "login": "int_app.teams.accounts.LoginForm",
    "reset_password": "int_app.teams.accounts.ResetPasswordForm",
    "reset_password_from_key": "int_app.teams.accounts.ResetPasswordKeyForm",
}
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
# A password reset sends the person back to the login page, where MFA still applies.
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED = False
# Sign-up is closed, so a reset asked for an unknown address sends nothing (allauth would otherwise
# invite the stranger to sign up); the page answers the same either way, revealing no accounts.
ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS = False
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "INT case meetings"
INT_REQUIRE_MFA = env_bool("INT_REQUIRE_MFA", not DEMO_MODE)


def cis2_app(*, issuer: str, client_id: str, secret: str, scopes: list[str], acr_values: str = "") -> dict:
    """allauth's OpenID Connect app for NHS CIS2 (docs/adr/0014-cis2-sign-in.md). The callback to
    register with CIS2 is <site>/accounts/oidc/cis2/login/callback/."""
    parsed = urlparse(issuer)
    loopback = parsed.hostname in {"127.0.0.1", "localhost"}
    if parsed.scheme != "https" and not (parsed.scheme == "http" and loopback):
        raise ImproperlyConfigured(f"INT_CIS2_ISSUER must be an https:// address, not {issuer!r}.")
    if "openid" not in scopes:
        raise ImproperlyConfigured(f"INT_CIS2_SCOPES must include openid; it is {' '.join(scopes)!r}.")
    settings: dict = {
        "server_url": issuer.rstrip("/"),
        "scope": scopes,
        # PKCE as well as the client secret: a stolen code is no use without the verifier.
        "oauth_pkce_enabled": True,
    }
    if acr_values:
        settings["auth_params"] = {"acr_values": acr_values}
    return {"provider_id": "cis2", "name": "NHS CIS2", "client_id": client_id, "secret": secret, "settings": settings}


def cis2_from_environment() -> dict | None:
    """All of INT_CIS2_ISSUER, _CLIENT_ID and _CLIENT_SECRET, or none: half a configuration stops
    the app at start-up rather than offering a button that cannot work."""
    required = {name: os.environ.get(name, "").strip() for name in ("INT_CIS2_ISSUER", "INT_CIS2_CLIENT_ID", "INT_CIS2_CLIENT_SECRET")}
    if not any(required.values()):
        return None
    missing = [name for name, value in required.items() if not value]
    if missing:
        raise ImproperlyConfigured(f"NHS CIS2 sign-in is half set up: {', '.join(missing)} must be set as well.")
    return cis2_app(
        issuer=required["INT_CIS2_ISSUER"],
        client_id=required["INT_CIS2_CLIENT_ID"],
        secret=required["INT_CIS2_CLIENT_SECRET"],
        # CIS2 gives the email address (by which an invited account is found) for the email scope.
        scopes=env_list("INT_CIS2_SCOPES", ["openid", "profile", "email"]),
        acr_values=env_str("INT_CIS2_ACR_VALUES", "").strip(),
    )


_cis2 = cis2_from_environment()
_cis2_origins = [f"{urlparse(_cis2['settings']['server_url']).scheme}://{urlparse(_cis2['settings']['server_url']).netloc}"] if _cis2 else []
# Passwords may be switched off where everyone signs in with NHS CIS2 (which asks no local TOTP).
INT_LOCAL_PASSWORDS = env_bool("INT_LOCAL_PASSWORDS", True)
if not INT_LOCAL_PASSWORDS and _cis2 is None:
    raise ImproperlyConfigured("INT_LOCAL_PASSWORDS=false needs NHS CIS2 sign-in (INT_CIS2_*): nobody could sign in.")
# The openid_connect provider is always installed (so its addresses exist and are tested); it has
# an app, and the login page a button, only when CIS2 is configured.
SOCIALACCOUNT_PROVIDERS = {
    "openid_connect": {"provider_class": "int_app.teams.cis2.provider.CIS2Provider", "APPS": [_cis2] if _cis2 else []}
}
SOCIALACCOUNT_ADAPTER = "int_app.teams.cis2.adapter.SocialAccountAdapter"
# Accounts are never made by signing in; an identity is linked only to an existing, active account.
SOCIALACCOUNT_AUTO_SIGNUP = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_LOGIN_ON_GET = False

# django-axes: five failed attempts lock the account for fifteen minutes.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = datetime.timedelta(minutes=15)
# By account only: a GP surgery or council office puts many staff behind one address, and locking
# the address would lock them all out after one person's typos (hence axes.W006 is silenced).
AXES_LOCKOUT_PARAMETERS = ["username"]
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_USERNAME_CALLABLE = "int_app.teams.accounts.username_for_axes"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "account/locked_out.html"
AXES_VERBOSE = False
# allauth would also lock an account (5 failures, 5 minutes); leave that to django-axes so there is
# one rule, and keep only allauth's per-address throttle.
ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip"}
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Messages name residents ("Agnes Smith added to the agenda"): they wait in the session, on the
# server, not in a cookie the browser (and anyone with the laptop) can read.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # {% htmx_script %} asks for django_htmx/htmx-2.min.js: serve our vendored copy under that name.
    ("django_htmx", BASE_DIR / "static" / "vendor" / "htmx"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # Hashed, compressed files need `collectstatic` first: production does that; `make run`
        # and the tests serve the plain files.
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if env_bool("INT_STATIC_MANIFEST", not DEBUG)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# Tests and `make run` serve straight from the finders; production serves the collected files.
WHITENOISE_USE_FINDERS = not env_bool("INT_STATIC_MANIFEST", not DEBUG)

# Email: SMTP in production; any Django backend by EMAIL_BACKEND. Each backend takes only its own
# options (Django 6.1's MAILERS refuses the others with InvalidMailer), so the SMTP options go to
# the SMTP backend alone and the file backend gets its folder.
_smtp_backend = "django.core.mail.backends.smtp.EmailBackend"
_email_backend = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend" if DEBUG else _smtp_backend)


def mailer_options(backend: str) -> dict:
    if backend == _smtp_backend:
        options = {
            "host": env_str("EMAIL_HOST", "localhost"),
            "port": env_int("EMAIL_PORT", 25),
            "use_tls": env_bool("EMAIL_USE_TLS", False),
            "use_ssl": env_bool("EMAIL_USE_SSL", False),
            # A mail server that stops answering must not hold a worker for the task's whole time limit.
            "timeout": env_int("EMAIL_TIMEOUT", 30),
        }
        if options["use_tls"] and options["use_ssl"]:
            raise ImproperlyConfigured("Set EMAIL_USE_TLS (STARTTLS, port 587) or EMAIL_USE_SSL (port 465), not both.")
        if os.environ.get("EMAIL_HOST_USER"):
            options |= {"username": env_str("EMAIL_HOST_USER"), "password": env_str("EMAIL_HOST_PASSWORD", "")}
        return options
    if backend == "django.core.mail.backends.filebased.EmailBackend":
        return {"file_path": env_str("EMAIL_FILE_PATH", str(BASE_DIR / ".data" / "mail"))}
    return {}


# Uploaded service-use files wait here for the worker that checks and loads them, and are deleted
# once it has (docs/adr/0010-imports-streamed.md). Web and worker processes must all see the same
# folder: on one host any local path; in docker-compose, the `imports` volume they share.
INT_IMPORT_DIR = Path(env_str("INT_IMPORT_DIR", str(BASE_DIR / ".data" / "imports")))
# An upload larger than this goes to a temporary file as it arrives rather than into memory
# (Django's default, said here because imports depend on it: a 150 MB extract is never held whole).
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

MAILERS = {"default": {"BACKEND": _email_backend, "OPTIONS": mailer_options(_email_backend)}}
# The address people reach the service at, for links in emails (agendas, digests, alerts).
INT_SITE_URL = env_str("INT_SITE_URL", "http://127.0.0.1:8000" if DEBUG else "")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "int-meetings@localhost")
if len(DEFAULT_FROM_EMAIL.splitlines()) > 1:
    raise ImproperlyConfigured("DEFAULT_FROM_EMAIL must be one line, as every email's From header.")

# Security headers: safe by default, loosened only by DEBUG for plain-http local use.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Off only for the loopback load test, which speaks plain http to gunicorn.
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = 0 if DEBUG else 31_536_000
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Sessions end after 30 minutes idle and after 12 hours in all
# (int_app.teams.middleware.session_lifetime). Activity renews the session at most once a minute,
# rather than writing it on every request.
SESSION_COOKIE_AGE = 30 * 60
SESSION_SAVE_EVERY_REQUEST = False
SESSION_RENEW_SECONDS = 60
SESSION_ABSOLUTE_SECONDS = 12 * 60 * 60
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    # The CIS2 button posts to our login address, which redirects to CIS2: the browser checks
    # that redirect against form-action too.
    "form-action": [CSP.SELF, *_cis2_origins],
    "frame-ancestors": [CSP.NONE],
}

# Celery: with REDIS_URL tasks go to the broker; without it they run in-process (development).
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 30 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 25 * 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE

# The cache holds what every web process must agree on: TOTP codes already used (allauth.mfa
# refuses a code seen before), login rate limits, the KPI figures. With REDIS_URL it is Redis,
# shared by every gunicorn worker and server; a per-process cache would accept one code once per
# process. It shares the broker's database, so its keys carry a prefix of their own.
CACHES = {
    "default": {"BACKEND": "int_app.cache.ReusedClientRedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": "int-cache"}
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}
# With the shared cache, a request reads its session from Redis; every change is still written to
# the database first (cached_db), so a restart or a flushed Redis signs no one out, and ending a
# session (log out, an account switched off) deletes both. Without Redis each process would keep
# its own copy, and a session ended in one would live on in another: the database alone then.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db" if REDIS_URL else "django.contrib.sessions.backends.db"
from celery.schedules import crontab  # noqa: E402 - only the beat schedule needs it

CELERY_BEAT_SCHEDULE: dict = {
    "worker-heartbeat": {"task": "int_app.teams.tasks.record_worker_heartbeat", "schedule": 60.0},
    # The full KPI recompute; an import that adds service use also queues one (kpis.handlers).
    "kpis-nightly-recompute": {"task": "kpis.tasks.recompute_kpis", "schedule": crontab(hour=2, minute=15)},
    "kpis-prune-runs": {"task": "kpis.tasks.prune_kpi_runs", "schedule": crontab(hour=3, minute=15)},
    # Idempotent, so a frequent beat is harmless and catches up after downtime.
    "meetings-schedule-ahead": {"task": "meetings.tasks.schedule_meetings", "schedule": 6 * 3600.0},
    "meetings-weekly-action-digest": {"task": "meetings.tasks.send_action_digests", "schedule": 3600.0},
    "meetings-send-unsent-mail": {"task": "meetings.tasks.send_unsent_mail", "schedule": 900.0},
    # Records whose retention period has ended lose their personal details; idempotent, so a
    # missed month is caught up by the next run.
    "caseload-retire-records": {
        "task": "caseload.tasks.retire_due_records",
        "schedule": crontab(day_of_month=1, hour=3, minute=45),
    },
}

# Years a closed record is kept before its personal details are removed: the Records Management
# Code of Practice's default for adult health and care records is 8 years after the end of care.
INT_RETENTION_YEARS = env_int("INT_RETENTION_YEARS", 8)
if not 1 <= INT_RETENTION_YEARS <= 100:
    raise ImproperlyConfigured(f"INT_RETENTION_YEARS must be from 1 to 100, not {INT_RETENTION_YEARS}.")

# KPIs: the before/after window W in months, the n under which a figure is "too few to judge", and
# the city projection the PCN lead takes to the board (DOMAIN.md: 20,000 residents, 850,000
# contacts a year, 15 % prevented).
KPI_WINDOW_MONTHS = env_int("KPI_WINDOW_MONTHS", 6)
if not 1 <= KPI_WINDOW_MONTHS <= 24:
    raise ImproperlyConfigured(f"KPI_WINDOW_MONTHS must be from 1 to 24, not {KPI_WINDOW_MONTHS}.")
KPI_MIN_RESIDENTS = env_int("KPI_MIN_RESIDENTS", 10)
KPI_PROJECTION_RESIDENTS = env_int("KPI_PROJECTION_RESIDENTS", 20_000)
KPI_CITY_CONTACTS_PER_YEAR = env_int("KPI_CITY_CONTACTS_PER_YEAR", 850_000)
KPI_AMBITION_PERCENT = env_int("KPI_AMBITION_PERCENT", 15)
KPI_PROCESS_WEEKS = env_int("KPI_PROCESS_WEEKS", 12)
if min(KPI_MIN_RESIDENTS, KPI_PROJECTION_RESIDENTS, KPI_CITY_CONTACTS_PER_YEAR, KPI_AMBITION_PERCENT, KPI_PROCESS_WEEKS) < 1:
    raise ImproperlyConfigured("The KPI_ settings must be whole numbers of at least 1.")

# Practice pressure: six levels, lowest first. A deployment may rename them; the numbers 1-6 stay.
PRACTICE_PRESSURE_LABELS = env_list(
    "PRACTICE_PRESSURE_LABELS", ["cool", "tepid", "warm", "hot", "nearing boiling point", "vaporising"]
)
if len(PRACTICE_PRESSURE_LABELS) != 6:
    raise ImproperlyConfigured(
        f"PRACTICE_PRESSURE_LABELS must name six levels, lowest first; it names {len(PRACTICE_PRESSURE_LABELS)}."
    )

LOGGING = logging_config(env_str("LOG_LEVEL", "INFO"))
configure_structlog()
DJANGO_STRUCTLOG_CELERY_ENABLED = False
