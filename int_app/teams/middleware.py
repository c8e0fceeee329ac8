"""Session rules an information-governance lead asks for, in one place."""

import copy
import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import logout
from django.core.cache import cache as shared_cache
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.crypto import constant_time_compare
from django.utils.functional import SimpleLazyObject

from .cis2 import signed_in_through_cis2
from .data_version import data_version_of
from .page_cache import release
from .signals import SESSION_STARTED_KEY

SESSION_RENEWED_KEY = "int_session_renewed"


def session_lifetime(get_response: Callable[[HttpRequest], HttpResponse]):
    """End a session 12 hours after login however active it is, and 30 minutes after its last
    request (the session's expiry, pushed on by activity at most once a minute)."""

    def middleware(request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = int(time.time())
            started = request.session.get(SESSION_STARTED_KEY)
            if started is None:
                request.session[SESSION_STARTED_KEY] = now
            elif now - started > settings.SESSION_ABSOLUTE_SECONDS:
                logout(request)
                return redirect(f"{reverse('account_login')}?next={request.path}")
            if now - request.session.get(SESSION_RENEWED_KEY, 0) >= settings.SESSION_RENEW_SECONDS:
                # A changed session is saved with a fresh expiry and cookie.
                request.session[SESSION_RENEWED_KEY] = now
        return get_response(request)

    return middleware


# Pages a person without MFA may still open: to set it up, or to leave.
MFA_SETUP_PREFIXES = ("/accounts/", "/healthz", "/readyz", "/static/")


def require_mfa(get_response: Callable[[HttpRequest], HttpResponse]):
    """With INT_REQUIRE_MFA on, an account without an authenticator app is sent to set one up,
    unless this session signed in through NHS CIS2, which is strong authentication already."""

    def middleware(request: HttpRequest) -> HttpResponse:
        if (
            settings.INT_REQUIRE_MFA
            and request.user.is_authenticated
            and not request.path.startswith(MFA_SETUP_PREFIXES)
            and not signed_in_through_cis2(request, request.user)
        ):
            from allauth.mfa.models import Authenticator

            if not Authenticator.objects.filter(user=request.user, type=Authenticator.Type.TOTP).exists():
                return redirect("mfa_activate_totp")
        return get_response(request)

    return middleware


def no_store_when_signed_in(get_response: Callable[[HttpRequest], HttpResponse]):
    """Any page a signed-in person gets may hold residents' information (an agenda, a printout,
    the minutes, a 404 naming nothing today but something tomorrow): no browser or proxy keeps a
    copy. One rule here rather than a decorator on each view, which a new view would forget."""

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        if request.user.is_authenticated:
            add_never_cache_headers(response)
        return response

    return middleware


# The methods pages of the service use. Each of our views declares which of them it answers
# (require_GET, require_POST, require_http_methods); this catches the rest before any view, the
# third-party ones included (Django's form views, allauth's among them, treat PUT as POST).
SERVICE_METHODS = ("GET", "HEAD", "POST")


def refuse_other_methods(get_response: Callable[[HttpRequest], HttpResponse]):
    def middleware(request: HttpRequest) -> HttpResponse:
        if request.method not in SERVICE_METHODS:
            return HttpResponseNotAllowed(SERVICE_METHODS)
        return get_response(request)

    return middleware


# How long a person read from the database is kept for later requests; any write to the team data
# (a renamed person, a membership ended, an account switched off, a changed password) makes a new key.
PERSON_CACHE_SECONDS = 600


def person_from_cache(get_response: Callable[[HttpRequest], HttpResponse]):
    """On a GET, the signed-in person and their memberships (every rights check reads them) come
    from the cache, keyed on the person and the data version (ADR 0026), instead of two queries:
    a cached copy is never older than the version, as a cached page is not. The session's checks
    are Django's: the backend is still allowed, the password has not changed since this session
    signed in, the account is active; if any of them fails, Django's own get_user decides (and
    ends the session). Right after AuthenticationMiddleware, replacing its lazy user."""

    def middleware(request: HttpRequest) -> HttpResponse:
        if request.method in ("GET", "HEAD"):
            request.user = SimpleLazyObject(lambda: signed_in_person(request))
        return get_response(request)

    return middleware


def signed_in_person(request: HttpRequest):
    user_id = request.session.get(auth.SESSION_KEY)
    version = data_version_of(request) if user_id is not None else None
    if version is None:
        return auth.get_user(request)
    key = f"person:{release()}:{user_id}:{version}"
    kept = shared_cache.get(key)
    if kept is not None:
        user, session_auth_hash = kept
        if session_still_holds(request, user, session_auth_hash):
            return user
    user = auth.get_user(request)
    if user.is_authenticated:
        user.memberships_with_teams()  # read now, kept with the person
        shared_cache.set(key, person_to_keep(user), PERSON_CACHE_SECONDS)
    return user


def person_to_keep(user) -> tuple:
    """The person as kept in the cache: without their password hash, which stays in the database
    only. The hash's HMAC that sessions are checked against is kept beside them instead; the
    password field is left deferred, so anything that needs it (a password check, a save) reads it
    from the database, and a save cannot write a copy without it."""
    session_auth_hash = user.get_session_auth_hash()
    kept = copy.copy(user)  # its own __dict__ and related-object cache (Model.__getstate__)
    del kept.__dict__["password"]
    # Each membership read names its person: the kept one, not this request's (which has the hash).
    kept._memberships_cache = [copy.copy(membership) for membership in user.memberships_with_teams()]
    for membership in kept._memberships_cache:
        membership._state.fields_cache["user"] = kept
    return kept, session_auth_hash


def session_still_holds(request: HttpRequest, user, session_auth_hash: str) -> bool:
    """What django.contrib.auth.get_user checks of a session, for a person read from the cache."""
    backend_path = request.session.get(auth.BACKEND_SESSION_KEY)
    session_hash = request.session.get(auth.HASH_SESSION_KEY)
    if backend_path not in settings.AUTHENTICATION_BACKENDS or not session_hash:
        return False
    if str(user.pk) != str(request.session.get(auth.SESSION_KEY)):
        return False
    backend = auth.load_backend(backend_path)
    if hasattr(backend, "user_can_authenticate") and not backend.user_can_authenticate(user):
        return False
    return constant_time_compare(session_hash, session_auth_hash)
