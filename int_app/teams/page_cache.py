"""Rendered pages kept in the cache, keyed on everything they show (ADR 0026).

A view asks `cached_page(request, "<page>")` before it reads anything, and on a hit returns
`cached.response(request)`: nothing read, nothing rendered. On a miss it renders as usual with the
`cached_page` in the context, and base.html's `{% keep_page cached_page %}` keeps the whole page (header and
navigation included: they show the person and their teams, which are in the key). The key holds the page,
the person (their rights are team data, so one person's part is never another's), the committed
version of the team data (data_version: any write anywhere makes every key new), today's date, the
address with its query string and the release (templates and code). When the version cannot be
known (a write under way), nothing is cached. A part that changes with the clock within a day
(a deadline passing) says when, with `expires_at`.

The view keeps doing, on every request, what is not about showing: the access log of the residents
shown and the rights check (before the lookup). A page with a message to show is neither served
from the cache nor kept. The cached HTML holds placeholders for the request's CSRF token and CSP
nonce, put back on the way out, so a page never carries another session's token.
"""

from __future__ import annotations

import datetime
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from django.conf import settings
from django.core.cache import cache as shared_cache
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.middleware.csp import get_nonce
from django.middleware.csrf import get_token
from django.utils import timezone

from .data_version import data_version_of

PAGE_CACHE_SECONDS = 600
CSRF_PLACEHOLDER = "__int_csrf_token__"
NONCE_PLACEHOLDER = "__int_csp_nonce__"


@cache
def release() -> str:
    """What the cached HTML was made by: the templates, static files and code of this checkout,
    and the settings read from the environment that pages may show (KPI thresholds, demo mode...)."""
    digest = hashlib.sha256()
    for name in sorted(os.environ):
        if name.startswith(("INT_", "KPI_", "DJANGO_")):
            digest.update(f"{name}={os.environ[name]};".encode())
    for folder in ("templates", "static", "int_app", "caseload", "pressure", "meetings", "kpis"):
        for path in sorted(Path(settings.BASE_DIR, folder).rglob("*")):
            if path.is_file() and path.suffix != ".pyc":
                stat = path.stat()
                digest.update(f"{path}:{stat.st_mtime_ns}:{stat.st_size};".encode())
    return digest.hexdigest()[:16]


# Settings changed while the process runs (Django's override_settings, a test's `settings`): each
# change starts new keys, as a restart with other environment values does through release().
_settings_changes = 0


@receiver(setting_changed)
def _settings_changed(**kwargs) -> None:
    global _settings_changes
    _settings_changes += 1


@dataclass
class CachedPage:
    key: str | None
    html: str | None = None
    # Called after the page is rendered: the moment it would read differently with no write
    # (a deadline, a date threshold), if sooner than PAGE_CACHE_SECONDS.
    expires_at: Callable[[], datetime.datetime | None] | None = None
    # The residents the page shows, kept with it: a view that logs who was shown logs them from
    # here on a cached request.
    shown: list[int] = field(default_factory=list)

    @property
    def hit(self) -> bool:
        return self.html is not None

    def store(self, html: str, *, csrf_token: str, nonce: str) -> None:
        """Called by {% keep_page %} in base.html with the whole rendered page."""
        if self.key is None:
            return
        expires = self.expires_at() if self.expires_at else None
        if expires is not None and expires <= timezone.now():
            return
        if csrf_token:
            html = html.replace(csrf_token, CSRF_PLACEHOLDER)
        if nonce:
            html = html.replace(nonce, NONCE_PLACEHOLDER)
        # The moment kept with the page and checked on reading, by the clock the page reads.
        shared_cache.set(self.key, (expires, html, self.shown), PAGE_CACHE_SECONDS)

    def response(self, request: HttpRequest) -> HttpResponse:
        """The kept page with this request's CSRF token and CSP nonce, nothing rendered."""
        html = self.html
        if CSRF_PLACEHOLDER in html:
            html = html.replace(CSRF_PLACEHOLDER, get_token(request))
        if NONCE_PLACEHOLDER in html:
            html = html.replace(NONCE_PLACEHOLDER, str(get_nonce(request)))
        response = HttpResponse(html)
        response.from_page_cache = True  # for the tests: the view read and rendered nothing for it
        return response


def messages_pending(request: HttpRequest) -> bool:
    """Whether the page will show a message (after a redirect from a form): such a page is
    neither served from the cache nor kept, as the message is this session's, for once only.
    Counting does not mark the messages as shown."""
    storage = getattr(request, "_messages", None)
    return storage is not None and len(storage) > 0


def cached_page(request: HttpRequest, page: str, *, expires_at: Callable[[], datetime.datetime | None] | None = None) -> CachedPage:
    """The cached rendering of `page` for this request, or an empty one to fill (key None: not cacheable)."""
    if request.method != "GET" or messages_pending(request):
        return CachedPage(key=None)
    version = data_version_of(request)
    if version is None:
        return CachedPage(key=None)
    parts = (page, release(), str(_settings_changes), str(request.user.pk), str(version), timezone.localdate().isoformat(), request.get_full_path(), str(bool(getattr(request, "htmx", False))))
    key = "page:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    expires, html, shown = shared_cache.get(key, (None, None, []))
    if expires is not None and expires <= timezone.now():
        html, shown = None, []
    return CachedPage(key=key, html=html, expires_at=expires_at, shown=shown)
