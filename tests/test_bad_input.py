"""Bad input: every form of the project, and the service-use importer, fed hostile values.

A coordinator pastes from a spreadsheet, a browser autofills a date field with nonsense, someone
tries a script tag in a goal. For every address of the access matrix that takes a POST, someone
allowed to use it submits the form found on its page, with some or all of its fields replaced by
unicode, NUL bytes, 10,000-character strings, HTML and script, spreadsheet formulas, impossible
dates, dates at the edges of every bound, text with line breaks that would break an email header,
and absurd numbers. Whatever they send: no server error, nothing written unless the
submission was accepted, and nothing they typed comes back unescaped.

Each example runs in a savepoint that is rolled back, so all examples of a form meet the same
world, built once.
"""

from __future__ import annotations

import copy
import csv
import datetime
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
from django.contrib.messages import constants as message_levels
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caseload.models import ImportJob, ServiceUseEvent
from caseload.nhs_number import nhs_number_check_digit
from caseload.services import import_job_create
from int_app.teams.models import Practice
from int_app.teams.roles import Role
from int_app.teams.validators import LINE_BREAK
from meetings import services as meeting_services
from meetings.models import AgendaItem, Meeting, OutcomeSummary

from . import access
from .access import ROWS, Row, World, world_kept_for_a_module
from .caseload.factories import active
from .factories import PASSWORD
from .meetings.factories import active_resident, add_item
from .meetings.test_email import HEADER_NAMES

access.load_feature_rows()

# Slow (thousands of requests): run first, and without the request log lines nobody reads.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("quiet_request_logs")]

# 200 examples a form and for the importer, as the trust issue asks; nothing remembered between
# runs, so each run explores afresh (a failure prints the example to reproduce it).
FUZZ_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- what a hostile or careless person types --------------------------------------------------------

SCRIPT = '<script>alert("int-x")</script>'
IMAGE = "<img src=x onerror=alert(7)>"
# What must never come back as markup: escaped, these read &lt;script&gt;... and are harmless.
MARKERS = ('<script>alert("int-x")', "<img src=x onerror")

HTML = [
    SCRIPT,
    IMAGE,
    f'"><{SCRIPT[1:]}',
    f"'>{IMAGE}",
    f"</textarea>{SCRIPT}",
    f"</title>{IMAGE}",
    f"{{{{ 7|add:7 }}}}{SCRIPT}",
    "javascript:alert(1)",
    "//evil.example/",
    "https://evil.example/",
]
FORMULAS = ["=1+1", '=HYPERLINK("https://evil.example","click")', "+44 121 496 0000", "-2+3", "@SUM(A1:A9)", "=cmd|' /C calc'!A0", "\t=1+1"]
IMPOSSIBLE_DATES = ["2026-02-30", "31/13/2026", "0000-00-00", "9999-99-99", "2026-13-01", "2026-02-29T25:61", "yesterday", "2026-1-1"]
DATES = [*IMPOSSIBLE_DATES, "1899-12-31", "9999-12-31", "0001-01-01", "25:61", "24:00", "-1:00"]
NUMBERS = ["-1", "0", "1e309", "NaN", "inf", "-9223372036854775809", "9223372036854775808", "9" * 40, "0x10", "1_000", "²", "١٢٣", "１２３", "3.5", " 7 "]
ODD = ["", " ", "\x00", "nul\x00byte", "\u202eevil", "\ufeffbom", "caf\u00e9", "\U0001f600", "a\r\nb", "'; DROP TABLE caseload_resident; --", "%00", "\\x00"]
# Line breaks of every kind, which a name carried into an email's subject must not hold.
HEADER_UNSAFE = ["Case review\r\nBcc: all@example.com", "North\nWest", "a\rb", "x\u2028y", "x\u2029y", "x\x85y", "x\x1cy", "x\vy", "x\fy"]
# Stand-ins for bytes that are not UTF-8 (0xE9, 0xFF, 0xFE): sent raw where the body allows it.
NOT_UTF8 = ["caf\udce9", "\udcff\udcfe"]

# Dates at the edges of what the forms take (int_app/teams/dates.py) and of the calendar; today and
# its neighbours are worked out when drawn, so they follow a frozen clock.
EDGE_DATES = ["0001-01-01", "1899-12-31", "1900-01-01", "1999-12-31", "2000-01-01", "2028-02-29", "2027-02-29", "2099-12-31", "2100-01-01", "9999-12-31"]
edge_date = st.one_of(
    st.sampled_from(EDGE_DATES),
    st.sampled_from([-731, -730, -1, 0, 1, 730, 731]).map(lambda days: str(timezone.localdate() + datetime.timedelta(days=days))),
)
# Text that would break an email header: every line break Python's str.splitlines() knows.
LINE_BREAKS = ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
header_unsafe = st.one_of(
    st.tuples(st.text(max_size=12), st.sampled_from(LINE_BREAKS), st.text(max_size=12)).map("".join),
    st.sampled_from(["Case review\r\nBcc: someone@evil.example", "Triage\nSubject: changed", "Name\u2028second line", "\x85"]),
)
# By the kind of input: the edge values it gets.
EDGES = {
    "date": edge_date,
    "month": edge_date.map(lambda day: day[:7]),
    "time": st.sampled_from(["00:00", "23:59", "23:59:59"]),
}

hostile_atom = st.one_of(
    st.text(max_size=40),  # any unicode Django would accept (no lone surrogates)
    edge_date,
    edge_date.map(lambda day: day[:7]),
    header_unsafe,
    st.sampled_from(HTML + FORMULAS + DATES + NUMBERS + ODD + HEADER_UNSAFE + NOT_UTF8),
    st.sampled_from(["a", "é", "\U0001d518", "<", "9", "\x00"]).map(lambda char: char * 10_000),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
)
# A hostile value is one of those, or a few run together ("2026-01-01<script>...", "=1+1\x00").
hostile = st.one_of(hostile_atom, st.lists(hostile_atom, min_size=2, max_size=3).map("".join))


# --- the form on the page -----------------------------------------------------------------------------


@dataclass
class FormField:
    name: str
    kind: str  # the input's type, or select / textarea / button
    values: list[str] = field(default_factory=list)  # what the page offers or fills in


class PageForms(HTMLParser):
    """The fields of every <form method="post"> on a page, by the address the form posts to."""

    def __init__(self, page_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.page_url = page_url
        self.forms: dict[str, dict[str, FormField]] = {}
        self.current: dict[str, FormField] | None = None
        self.select: FormField | None = None
        self.textarea: FormField | None = None

    def add(self, name: str | None, kind: str, value: str | None) -> FormField | None:
        if self.current is None or not name or name == "csrfmiddlewaretoken":
            return None
        found = self.current.setdefault(name, FormField(name, kind))
        if value is not None and value not in found.values:
            found.values.append(value)
        return found

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if tag == "form" and (attr.get("method") or "get").lower() == "post":
            action = urlsplit(urljoin(self.page_url, attr.get("action") or self.page_url)).path
            self.current = self.forms.setdefault(action, {})
        elif tag == "input":
            kind = (attr.get("type") or "text").lower()
            if kind in ("submit", "image", "reset") and not attr.get("name"):
                return
            self.add(attr.get("name"), kind, attr.get("value"))
        elif tag == "button" and attr.get("name"):
            self.add(attr.get("name"), "button", attr.get("value") or "")
        elif tag == "select":
            self.select = self.add(attr.get("name"), "select", None)
        elif tag == "option" and self.select is not None:
            self.select.values.append(attr.get("value") or "")
        elif tag == "textarea":
            self.textarea = self.add(attr.get("name"), "textarea", None)

    def handle_data(self, data: str) -> None:
        if self.textarea is not None and data.strip():
            self.textarea.values.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.current = None
        elif tag == "select":
            self.select = None
        elif tag == "textarea":
            self.textarea = None


def form_fields(client: Client, page_url: str, action: str) -> dict[str, FormField]:
    response = client.get(page_url)
    assert response.status_code == 200, f"{page_url} answered {response.status_code}"
    parser = PageForms(page_url)
    parser.feed(response.text)
    assert urlsplit(action).path in parser.forms, (
        f"No form on {page_url} posts to {action} (forms post to {sorted(parser.forms)}): "
        "name the page that holds it in FORM_PAGES."
    )
    return parser.forms[urlsplit(action).path]


# --- each address: who posts, from which page, in which state of the world -------------------------------


def meeting(w: World):
    return w.objects["meeting"]


# The page that holds the form of an address that only takes POSTs.
FORM_PAGES: dict[str, Callable[[World], str]] = {
    "caseload:goal_add": lambda w: f"/caseload/teams/{w.own.slug}/residents/{w.objects['active'].pk}/plan/",
    "caseload:goal_status": lambda w: f"/caseload/teams/{w.own.slug}/residents/{w.objects['active'].pk}/plan/",
    "caseload:plan_interventions": lambda w: f"/caseload/teams/{w.own.slug}/residents/{w.objects['active'].pk}/plan/",
    "pressure:alert_acknowledge": lambda w: "/pressure/",
    "invitation_resend": lambda w: "/invitations/",
    "invitation_revoke": lambda w: "/invitations/",
    "caseload:subject_access_answered": lambda w: f"/caseload/teams/{w.own.slug}/records/",
    "caseload:subject_access_produce": lambda w: f"/caseload/teams/{w.own.slug}/records/",
    "meetings:meeting_end": lambda w: f"/meetings/teams/{w.own.slug}/{meeting(w).pk}/",
    "meetings:agenda_add": lambda w: f"/meetings/teams/{w.own.slug}/{meeting(w).pk}/agenda/",
    "meetings:agenda_remove": lambda w: f"/meetings/teams/{w.own.slug}/{meeting(w).pk}/agenda/",
    "meetings:agenda_reorder": lambda w: f"/meetings/teams/{w.own.slug}/{meeting(w).pk}/agenda/",
    "meetings:item_update": lambda w: f"/meetings/teams/{w.own.slug}/{meeting(w).pk}/agenda/",
    "meetings:item_move": lambda w: f"/meetings/teams/{w.own.slug}/{meeting(w).pk}/agenda/",
    "meetings:attendance": lambda w: f"/meetings/teams/{w.own.slug}/{meeting(w).pk}/",
    "meetings:minutes_publish": lambda w: f"/meetings/teams/{w.own.slug}/{meeting(w).pk}/minutes/",
    "meetings:item_notes": lambda w: f"/meetings/teams/{w.own.slug}/{meeting(w).pk}/",
    "meetings:item_outcome": lambda w: f"/meetings/teams/{w.own.slug}/{meeting(w).pk}/",
    "meetings:item_timer": lambda w: f"/meetings/teams/{w.own.slug}/{meeting(w).pk}/",
    "meetings:decision_add": lambda w: f"/meetings/teams/{w.own.slug}/{meeting(w).pk}/",
    "meetings:action_add": lambda w: f"/meetings/teams/{w.own.slug}/{meeting(w).pk}/",
    "meetings:decision_sign": lambda w: f"/meetings/teams/{w.own.slug}/{meeting(w).pk}/",
    "meetings:action_status": lambda w: f"/meetings/teams/{w.own.slug}/actions/{w.objects['action'].pk}/",
    "meetings:outcome_summary_send": lambda w: f"/meetings/teams/{w.own.slug}/outcome-summaries/{w.objects['outcome_summary'].pk}/",
    "meetings:calendar_reset": lambda w: "/meetings/calendar/",
}


# Posted by the page's script rather than a form: the fields as static/js/meetings.mjs sends them.
SCRIPTED: dict[str, Callable[[World], dict[str, FormField]]] = {
    "meetings:agenda_reorder": lambda w: {
        "order": FormField("order", "hidden", [",".join(str(pk) for pk in meeting(w).items.order_by("-position").values_list("pk", flat=True))])
    },
}


# Invitations are a staff admin's forms (no role in a team opens them): for their rows the own
# team's coordinator is made the staff admin.
STAFF_FORMS = {"invitation_new", "invitation_upload", "invitation_resend", "invitation_revoke"}


def staff_admin(w: World) -> None:
    from int_app.teams.models import User

    User.objects.filter(pk=w.member(w.own, Role.COORDINATOR).pk).update(is_staff=True)


def agenda_published(w: World) -> None:
    meeting_services.agenda_publish(meeting=meeting(w), by=w.member(w.own, Role.COORDINATOR))


def item_pending(w: World) -> None:
    """Not yet discussed, so that the page offers to mark it either way."""
    AgendaItem.objects.filter(pk=w.objects["agenda_item"].pk).update(outcome=AgendaItem.Outcome.PENDING)


def second_item(w: World) -> None:
    """A second resident on the agenda, so that the first can move down it."""
    add_item(meeting(w), active_resident(w.own, given_name="Bert", family_name="Second"))


def meeting_ended(w: World) -> None:
    agenda_published(w)
    # A fresh copy: the world's own objects are shared by every form's test and must not change.
    Meeting.objects.get(pk=meeting(w).pk).end()


def another_session(w: World) -> None:
    """The coordinator is also signed in elsewhere, so their sessions page offers to end the others."""
    sign_in(Client(), w.member(w.own, Role.COORDINATOR))


def cis2_identity_linked(w: World) -> None:
    """The coordinator's CIS2 identity is linked, so the page offers to unlink it."""
    from allauth.socialaccount.models import SocialAccount

    SocialAccount.objects.create(user=w.member(w.own, Role.COORDINATOR), provider="cis2", uid="5550-0001")


def minutes_published(w: World) -> None:
    meeting_ended(w)
    meeting_services.minutes_publish(meeting=meeting(w), by=w.member(w.own, Role.COORDINATOR))


def summary_held_back(w: World) -> None:
    """Kept for want of a mailbox, which the practice has since been given: "Send it again" is offered."""
    summary = w.objects["outcome_summary"]
    OutcomeSummary.objects.filter(pk=summary.pk).update(status=OutcomeSummary.Status.NO_MAILBOX)
    Practice.objects.filter(pk=summary.practice_id).update(shared_mailbox="surgery@nhs.example")


# The world as the access matrix builds it has an unpublished agenda; the forms used during and
# after the meeting are only offered (and only accept anything) once it has moved on.
STAGES: dict[str, Callable[[World], None]] = {
    **dict.fromkeys(
        [
            "meetings:attendance",
            "meetings:item_notes",
            "meetings:item_timer",
            "meetings:decision_add",
            "meetings:action_add",
            "meetings:decision_sign",
            "meetings:meeting_end",
        ],
        agenda_published,
    ),
    "meetings:item_outcome": lambda w: (agenda_published(w), item_pending(w)),
    "meetings:item_move": second_item,
    "meetings:agenda_reorder": second_item,
    "meetings:minutes_publish": meeting_ended,
    "usersessions_list": another_session,
    "socialaccount_connections": cis2_identity_linked,
    "meetings:minutes_addendum": minutes_published,
    **dict.fromkeys(["invitation_new", "invitation_upload", "invitation_resend", "invitation_revoke"], staff_admin),
    "meetings:outcome_summary_correct": minutes_published,
    "meetings:outcome_summary_send": summary_held_back,
}

# Addresses that take a POST but whose page has no form: they get fields the form never had.
NO_FORM = {
    "account_signup": "sign-up is closed: the page says so, and a POST is refused all the same",
    # The world has no NHS CIS2 configured: both send everyone back to the login page.
    "openid_connect_login": "the CIS2 button's address, which takes no fields",
    "socialaccount_signup": "no CIS2 sign-in waiting, and sign-up is closed",
}


# Account pages for someone who is not signed in; the others are used signed in.
SIGNED_OUT = {"account_login", "account_signup", "account_reset_password", "invitation_accept", "openid_connect_login", "socialaccount_signup"}


def poster(row: Row) -> str | None:
    """The role that uses the form (None: nobody signed in)."""
    if row.name in SIGNED_OUT:
        return None
    if row.name in STAFF_FORMS:
        return Role.COORDINATOR
    return Role.COORDINATOR if Role.COORDINATOR in row.roles else sorted(row.roles)[0]


# --- plausible values, so that valid submissions are tried too ---------------------------------------


def valid_nhs_numbers() -> st.SearchStrategy[str]:
    def with_check_digit(first_nine: str) -> str | None:
        check = nhs_number_check_digit(first_nine)
        return None if check is None else f"{first_nine}{check}"

    return st.integers(100_000_000, 999_999_999).map(lambda n: with_check_digit(str(n))).filter(bool)


def plausible(form_field: FormField, world: World) -> st.SearchStrategy[str]:
    today = timezone.localdate()
    offered = [value for value in form_field.values if value.strip()]
    # Drawn for every field of every example: the coordinator (a query) is looked up only for the
    # fields that take their address.
    def coordinator_email() -> st.SearchStrategy[str]:
        return st.just(world.member(world.own, Role.COORDINATOR).email)

    by_name: dict[str, Callable[[], st.SearchStrategy[str]]] = {
        "nhs_number": valid_nhs_numbers,
        "date_of_birth": lambda: st.just("1948-05-04"),
        "login": coordinator_email,
        "email": coordinator_email,
        "password": lambda: st.just(PASSWORD),
        "oldpassword": lambda: st.just(PASSWORD),
        "password1": lambda: st.just("a-new-long-pass-phrase-2027"),
        "password2": lambda: st.just("a-new-long-pass-phrase-2027"),
        "video_link": lambda: st.just("https://meet.example.nhs.uk/int"),
    }
    short_name = form_field.name.rsplit("-", 1)[-1]
    if short_name in by_name:
        return by_name[short_name]()
    if offered:
        return st.sampled_from(offered)
    by_kind = {
        "date": st.sampled_from([today + datetime.timedelta(days=d) for d in (-7, 0, 7)]).map(str),
        "time": st.just("13:30"),
        "number": st.sampled_from(["1", "15", "30", "90"]),
        "email": st.just("someone@example.nhs.uk"),
        "url": st.just("https://meet.example.nhs.uk/int"),
        "checkbox": st.just("on"),
    }
    return by_kind.get(form_field.kind, st.sampled_from(["Plain words", "Review in two weeks", "Mrs O'Neill – café"]))


def file_name_from(text: str) -> str:
    """A hostile file name the test client can still send: no folders in it (Django refuses to make
    such an upload), no lone surrogates (they cannot be written as UTF-8)."""
    name = text.replace("/", "_").replace("\\", "_").encode("utf-8", "replace").decode()[:300]
    return name if name.strip(".") else "x"


def upload(content: bytes, name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, "text/csv")


@st.composite
def submissions(draw, fields: dict[str, FormField], world: World) -> dict[str, list]:
    """What the person sends: the page's form filled in plausibly, then some of its fields (or all
    of them) replaced by something hostile or left out; now and then a field the form never had."""
    names = sorted(fields)
    mode = draw(st.sampled_from(["all", "some", "edges"]))
    if mode == "all":
        spoiled = set(names)
    elif mode == "some":
        spoiled = draw(st.sets(st.sampled_from(names), max_size=2)) if names else set()
    else:
        # Every date and time at an edge together (9999-12-31 at 23:59), each text field perhaps
        # broken across lines, the rest plausible: what a form must refuse, or take and still show.
        spoiled = set()
    sent: dict[str, list] = {}
    for name in names:
        form_field = fields[name]
        if form_field.kind == "file":
            csv_text = draw(st.one_of(hostile, st.just("nhs_number,date,kind,source,source_id\n")))
            file_name = draw(st.one_of(st.just("extract.csv"), hostile.map(file_name_from)))
            sent[name] = [upload(csv_text.encode("utf-8", "surrogateescape"), file_name)]
            continue
        good = plausible(form_field, world)
        if mode == "edges" and form_field.kind in EDGES:
            sent[name] = [draw(EDGES[form_field.kind])]
            continue
        if mode == "edges" and form_field.kind in ("text", "textarea") and draw(st.booleans()):
            sent[name] = [draw(header_unsafe)]
            continue
        if name not in spoiled:
            sent[name] = [draw(good)]
            continue
        choice = draw(st.sampled_from(["hostile", "hostile", "edge", "missing", "several"]))
        if choice == "hostile":
            sent[name] = [draw(hostile)]
        elif choice == "edge":  # what is hostile to this kind of field in particular
            sent[name] = [draw(EDGES.get(form_field.kind, header_unsafe))]
        elif choice == "several":
            sent[name] = draw(st.lists(st.one_of(hostile, good), min_size=2, max_size=3))
    if draw(st.integers(0, 9)) == 0:
        sent[draw(st.sampled_from(["next", "version", "id", "team", "pk", "status"]))] = [draw(hostile)]
    return sent


# --- what the database and the page say -----------------------------------------------------------------

# Tables that a refused submission writes to all the same, found by posting empty and hostile forms
# to every address and looking at what changed; any other write means the submission was taken.
WRITTEN_ON_ANY_REQUEST = (
    # The session row is renewed once a minute (SESSION_RENEW_SECONDS) on whichever request falls
    # due, and rewritten when a page keeps something in it (allauth's pending authenticator secret).
    "django_session",
    # django-axes writes down every failed login, to lock the account after five: by design.
    "axes_accessattempt",
    "axes_accessfailurelog",
)


def tables_written() -> dict[str, int]:
    """Rows inserted, updated or deleted so far in this transaction, by table (PostgreSQL counts
    them in rolled-back savepoints too)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_xact_user_tables")
        return dict(cursor.fetchall())


def writes_since(before: dict[str, int]) -> dict[str, int]:
    after = tables_written()
    return {
        table: count - before.get(table, 0)
        for table, count in after.items()
        if count != before.get(table, 0) and table not in WRITTEN_ON_ANY_REQUEST
    }


def names_over_two_lines() -> list[str]:
    """The names that reach an email header (HEADER_NAMES) now holding a line break: a form let one
    through. Asked in one query (an EXISTS per name), since it is asked after every example."""
    labels, subqueries, params = [], [], []
    for model, field_name in HEADER_NAMES:
        sql, sql_params = model.objects.filter(**{f"{field_name}__regex": LINE_BREAK.pattern}).values("pk")[:1].query.sql_with_params()
        labels.append(f"{model.__name__}.{field_name}")
        subqueries.append(f"EXISTS ({sql})")
        params.extend(sql_params)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(subqueries)}", params)
        found = cursor.fetchone()
    return [label for label, broken in zip(labels, found, strict=True) if broken]


def refusal(response) -> str | None:
    """How the page says the submission was not taken, if it does."""
    if 400 <= response.status_code < 500:
        return f"status {response.status_code}"
    errors = [m for m in get_messages(response.wsgi_request) if m.level >= message_levels.ERROR]
    if errors:
        return f"error message {errors[0].message!r}"
    if b"nhsuk-error-message" in response.content or b"nhsuk-error-summary" in response.content:
        return "form errors on the page"
    return None


def sends_markup(sent: dict[str, list]) -> bool:
    def markup(value) -> bool:
        if isinstance(value, SimpleUploadedFile):
            return "<" in value.name or b"<" in value.file.getvalue()
        return "<" in value

    return any(markup(value) for values in sent.values() for value in values)


def unescaped(body: bytes) -> str | None:
    text = body.decode("utf-8", "replace")
    return next((marker for marker in MARKERS if marker in text), None)


def encode_body(sent: dict[str, list]) -> bytes:
    """A urlencoded body as a browser would send it; lone surrogates become the raw bytes they stand
    for (\\udce9 -> 0xE9), so that bytes that are not UTF-8 reach the server too."""
    def raw(text: str) -> bytes:
        return text.encode("utf-8", "surrogateescape")

    return urlencode([(raw(name), raw(value)) for name, values in sent.items() for value in values]).encode()


# --- the test ----------------------------------------------------------------------------------------

FORM_ROWS = [row for row in ROWS if "POST" in row.methods]


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker) -> Iterator[World]:
    """One world for every form; each form's test runs in a savepoint inside it (the `db`
    fixture), and each example in another."""
    with world_kept_for_a_module(django_db_blocker) as world:
        yield world


def sign_in(client: Client, user) -> None:
    """Through the login page, then the password again, as the person would: allauth then knows
    they proved who they are a moment ago, and the account pages that ask for that (switching on
    an authenticator app) open."""
    for page in ("/accounts/login/", "/accounts/reauthenticate/"):
        response = client.post(page, {"login": user.email, "password": PASSWORD})
        assert response.status_code == 302, f"{page} answered {response.status_code}"


def client_at(row, world) -> tuple[Client, str]:
    """The world set up for the row, a client signed in as the row's poster, and the row's address."""
    if row.name in STAGES:
        STAGES[row.name](world)
    client = Client()
    role = poster(row)
    if role is not None:
        sign_in(client, world.member(world.own, role))
    return client, row.path(world)


@pytest.mark.parametrize("row", FORM_ROWS, ids=[row.name for row in FORM_ROWS])
def test_a_form_takes_any_input_without_a_server_error_a_stray_write_or_an_echo(db, world, row):
    client, url = client_at(row, world)
    if row.name in SCRIPTED:
        fields = SCRIPTED[row.name](world)
    elif row.name in NO_FORM:
        fields = {}
    else:
        fields = form_fields(client, FORM_PAGES.get(row.name, row.path)(world), url)
    signed_in_cookies = copy.deepcopy(client.cookies)
    with_files = any(f.kind == "file" for f in fields.values())

    @FUZZ_SETTINGS
    @given(sent=submissions(fields, world), htmx=st.booleans(), raw=st.booleans())
    def post_bad_input(sent: dict[str, list], htmx: bool, raw: bool) -> None:
        client.cookies = copy.deepcopy(signed_in_cookies)  # a login or logout in an earlier example is undone
        cache.clear()  # allauth's per-address login throttle
        headers = {"HX-Request": "true"} if htmx else {}
        with transaction.atomic():
            before = tables_written()
            if raw and not with_files:
                response = client.post(url, encode_body(sent), content_type="application/x-www-form-urlencoded", headers=headers)
            else:
                response = client.post(url, clean_for_multipart(sent), headers=headers)
            written = writes_since(before)
            broken_names = names_over_two_lines()
            pages = [response]
            location = response.headers.get("Location", "")
            # The next page shows what was saved and the messages left for it: look at it when
            # there was markup in what was sent (and so something that could come back unescaped),
            # and whenever something was saved (an accepted value must not break the page after).
            if location.startswith("/") and (sends_markup(sent) or written):
                pages.append(client.get(location))
            transaction.set_rollback(True)

        assert response.status_code < 500
        assert not broken_names, f"{broken_names} saved with a line break, which would break an email's subject"
        for shown in pages:
            assert shown.status_code < 500, f"{shown.request['PATH_INFO']} answered {shown.status_code}"
            echo = unescaped(shown.content)
            assert echo is None, f"{shown.request['PATH_INFO']} shows {echo} unescaped"
        refused = refusal(response)
        assert not (written and refused), f"{written} written although the page says it was refused ({refused})"
        if written:
            assert response.status_code in (302, 303) or (htmx and response.status_code == 200), (
                f"{written} written, but the answer ({response.status_code}) is not a saved form's"
            )

    post_bad_input()


# A plausible value with a line break inside, as pasted from a letter or a spreadsheet cell.
pasted_with_line_break = st.tuples(
    st.sampled_from(["Case review", "North", "Dr Ama", "Church Road Surgery"]),
    st.sampled_from(["\n", "\r\n", "\r", "\u2028", "\u2029", "\x85", "\x1c", "\v", "\f"]),
    st.sampled_from(["Bcc: all@example.com", "West", "Owusu", "Subject: urgent"]),
).map("".join)
TYPED = ("text", "textarea", "search", "email", "url")


@pytest.mark.parametrize("row", FORM_ROWS, ids=[row.name for row in FORM_ROWS])
def test_no_form_saves_a_line_break_into_a_name_that_reaches_an_email(db, world, row):
    """Each form filled in plausibly, with one typed field holding a line break: whatever the form
    takes, no series, team, practice or person name comes out over two lines (the agenda's, the
    minutes' and the pressure alert's subjects are built from them)."""
    client, url = client_at(row, world)
    if row.name in SCRIPTED or row.name in NO_FORM:
        pytest.skip("no form on a page to type into")
    fields = form_fields(client, FORM_PAGES.get(row.name, row.path)(world), url)
    typed = sorted(name for name, form_field in fields.items() if form_field.kind in TYPED)
    if not typed:
        pytest.skip("no field to type into")
    signed_in_cookies = copy.deepcopy(client.cookies)
    filled_in = st.fixed_dictionaries(
        {name: plausible(form_field, world) for name, form_field in fields.items() if form_field.kind != "file"}
    )

    @settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(sent=filled_in, field=st.sampled_from(typed), unsafe=pasted_with_line_break)
    def post_a_line_break(sent: dict[str, str], field: str, unsafe: str) -> None:
        client.cookies = copy.deepcopy(signed_in_cookies)
        cache.clear()
        with transaction.atomic():
            response = client.post(url, {**sent, field: unsafe})
            broken_names = names_over_two_lines()
            transaction.set_rollback(True)
        assert response.status_code < 500
        assert not broken_names, f"{field}={unsafe!r} saved {broken_names} with a line break"

    post_a_line_break()


def clean_for_multipart(sent: dict[str, list]) -> dict[str, list]:
    """A multipart body is written as UTF-8 by the test client: the stand-ins for raw bytes go as "?"."""
    return {
        name: [value.encode("utf-8", "replace").decode() if isinstance(value, str) else value for value in values]
        for name, values in sent.items()
    }


# --- the service-use importer ---------------------------------------------------------------------------

HEADER = ["nhs_number", "date", "kind", "source", "source_id"]
KINDS = sorted(ServiceUseEvent.Kind.values)
UNREADABLE = "a value too long to read"
SAME_AGAIN = "the same source and source_id as an earlier line"


@dataclass
class ExtractRow:
    """One line of an extract, and what is wrong with it (nothing, for a good row)."""

    cells: dict[str, str]
    fault: str | None = None
    values_written: int = len(HEADER)

    def text(self, source_id: str) -> str:
        values = [self.cells.get(column, source_id) for column in HEADER]
        return csv_line(values[: self.values_written] + ["x"] * (self.values_written - len(HEADER)))


def looks_like_a_date(text: str) -> bool:
    return re.search(r"\d{4}-\d{2}-\d{2}", text, re.ASCII) is not None


def extract_rows(nhs_numbers: list[str], strangers: list[str], today: datetime.date, *, faulty: bool) -> st.SearchStrategy[ExtractRow]:
    """A good row, or (when `faulty`) maybe a row with one thing wrong. The source_id is left to the
    file, which numbers the rows, unless it is what is wrong."""
    good_nhs = st.sampled_from(nhs_numbers).flatmap(
        lambda n: st.sampled_from([n, f"{n[:3]} {n[3:6]} {n[6:]}", f" {n[:3]}-{n[3:6]}-{n[6:]} "])
    )
    good_date = st.integers(1, 3000).map(lambda days: str(today - datetime.timedelta(days=days)))
    # Any name is a fine source, even one that looks like a formula or markup.
    good_source = st.sampled_from(["BHAM-ED", "EMIS", "=SUM(A1:A2)", "@risk", "+44", "-1", SCRIPT, "Sandwell & West B'ham \"ED\""])

    def hostile_but_not(allowed: set[str]) -> st.SearchStrategy[str]:
        return hostile.filter(lambda text: text.strip() not in allowed and "\x00" not in text)

    faults = {  # what is wrong: the column it is in, and values that are wrong there
        "bad NHS number": ("nhs_number", st.one_of(
            st.sampled_from(["9434765918", "943 476 591", "0000000000", "", "NHS", "٩٤٣٤٧٦٥٩١٩", "９４３４７６５９１９", *strangers]),
            hostile_but_not(set(nhs_numbers)).filter(lambda text: sum(c.isascii() and c.isdigit() for c in text) != 10),
        )),
        "impossible date": ("date", st.one_of(
            st.sampled_from(IMPOSSIBLE_DATES), hostile.filter(lambda text: not looks_like_a_date(text) and "\x00" not in text)
        )),
        "date in the future": ("date", st.integers(1, 400).map(lambda days: str(today + datetime.timedelta(days=days)))),
        "date before 2000": ("date", st.sampled_from(["1999-12-31", "1900-01-01", "0001-01-01"])),
        "unknown kind": ("kind", hostile_but_not(set(KINDS))),
        "no source": ("source", st.sampled_from(["", "   ", "\t"])),
        "source too long": ("source", st.integers(61, 10_000).map(lambda n: "S" * n)),
        "source_id too long": ("source_id", st.integers(101, 10_000).map(lambda n: "I" * n)),
        UNREADABLE: ("source_id", st.just("X" * 140_000)),  # past the csv module's limit of 128 KB a value
    }

    @st.composite
    def one_row(draw) -> ExtractRow:
        row = ExtractRow(
            {"nhs_number": draw(good_nhs), "date": draw(good_date), "kind": draw(st.sampled_from(KINDS)), "source": draw(good_source)}
        )
        row.fault = draw(st.one_of(st.none(), st.sampled_from([*faults, "wrong number of values", "zero byte"]))) if faulty else None
        if row.fault in faults:
            column, wrong = faults[row.fault]
            row.cells[column] = draw(wrong)
        elif row.fault == "zero byte":
            column = draw(st.sampled_from(sorted(row.cells)))
            row.cells[column] += "\x00"
        elif row.fault == "wrong number of values":
            row.values_written = draw(st.sampled_from([1, 2, 4, 6, 9]))
        return row

    return one_row()


def csv_line(values: list[str]) -> str:
    """The values as a spreadsheet writes them: quoted when they hold a comma, a quote or a line break."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(values)
    return out.getvalue().removesuffix("\r\n")


def is_utf8(content: bytes) -> bool:
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def lines_in(text: str) -> int:
    """Physical lines, as the csv module counts them: \\r\\n, \\r and \\n each end one."""
    return len(re.findall(r"\r\n|\r|\n", text)) + 1


@st.composite
def extracts(
    draw, nhs_numbers: list[str], strangers: list[str], today: datetime.date
) -> tuple[bytes, list[ExtractRow], dict[int, range], str | None]:
    """The file's bytes, its rows, each line of each faulty row (by the line it starts on), and a fault of the whole file."""
    faulty = draw(st.booleans())
    rows = draw(st.lists(extract_rows(nhs_numbers, strangers, today, faulty=faulty), min_size=1, max_size=12))
    texts = [row.text(source_id=f"ID-{index}") for index, row in enumerate(rows)]
    if faulty and draw(st.sampled_from(["once", "once", "twice"])) == "twice":
        rows.append(ExtractRow(rows[0].cells, SAME_AGAIN))
        texts.append(texts[0])
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))  # Unix, Windows, old Mac
    faulty_lines: dict[int, range] = {}
    line = 1  # the header's
    for row, row_text in zip(rows, texts, strict=True):
        # A value holding a line break splits its row over several lines, which is a fault in itself.
        spans = range(line + 1, line + 1 + lines_in(row_text))
        line = spans[-1]
        if row.fault or len(spans) > 1:
            faulty_lines[spans[0]] = spans
    text = newline.join([",".join(HEADER), *texts]) + draw(st.sampled_from([newline, ""]))
    whole_file = draw(st.sampled_from([None, None, None, "byte order mark", *(["not UTF-8", "no rows"] if faulty else [])]))
    content = text.encode("utf-8", "surrogateescape")  # "caf\udce9" is café saved in Windows-1252
    if whole_file == "byte order mark":
        content, whole_file = b"\xef\xbb\xbf" + content, None
    if whole_file is None and not is_utf8(content):
        # A file with a byte order mark but café in Windows-1252 is not UTF-8 either.
        whole_file = "not UTF-8"
    if whole_file == "not UTF-8":
        content = content.replace(b"kind", b"k\xe9ind", 1)  # a header cell saved in Windows-1252
    elif whole_file == "no rows":
        content = (",".join(HEADER) + newline).encode()
    return content, rows, faulty_lines, whole_file


def test_an_extract_with_any_fault_loads_nothing_and_names_the_lines(db, world, client):
    """The coordinator uploads extracts mixing good rows with bad NHS numbers, impossible dates,
    unknown kinds, missing or huge values, zero bytes, formulas, byte order marks, wrong numbers of
    values and bytes that are not UTF-8. A file with any fault loads nothing and lists its faulty
    lines; a good file loads, and loading it again adds nothing."""
    nhs_numbers = [active(world.own).nhs_number for _ in range(3)]
    strangers = [active(world.other).nhs_number, "9434765919"]  # another team's resident; a valid number of nobody
    client.force_login(world.member(world.own, Role.COORDINATOR))
    today = timezone.localdate()

    @FUZZ_SETTINGS
    @given(extract=extracts(nhs_numbers, strangers, today))
    def upload_extract(extract: tuple[bytes, list[ExtractRow], dict[int, range], str | None]) -> None:
        content, rows, faulty_lines, whole_file = extract
        with transaction.atomic():
            events_before = ServiceUseEvent.objects.count()
            job, page = upload_through_the_page(client, content)
            events_added = ServiceUseEvent.objects.count() - events_before
            again = upload_through_the_page(client, content)[0] if job.status == ImportJob.Status.DONE else None
            events_after_again = ServiceUseEvent.objects.count() - events_before
            transaction.set_rollback(True)

        assert unescaped(page.content) is None, "the job's page shows part of the file unescaped"
        if whole_file or faulty_lines:
            assert job.status == ImportJob.Status.REFUSED, (job.status, job.errors, faulty_lines, whole_file)
            assert events_added == 0, f"{events_added} events loaded from a file with faults"
            assert job.errors and all(error["line"] >= 1 and error["message"].strip() for error in job.errors), job.errors
            reported = {error["line"] for error in job.errors}
            if whole_file == "not UTF-8":
                assert reported == {1} and "not plain text" in job.errors[0]["message"]
            elif whole_file == "no rows":
                assert reported == {2} and "no rows" in job.errors[0]["message"]
            elif any(row.fault == "zero byte" for row in rows):
                text = content.decode("utf-8-sig")
                assert reported == {lines_in(text[: text.index("\x00")])}, job.errors
            else:
                # Each row is one line: a faulty row is named by its first line, and a row split by a
                # line break in a value maybe also by the lines it runs on to, read as rows of their own.
                # A line that cannot be read at all does not stop the lines after it being checked.
                may_be_named = {line for spans in faulty_lines.values() for line in spans}
                assert set(faulty_lines) <= reported <= may_be_named, f"reported lines {sorted(reported)}, faulty rows {faulty_lines}"
        else:
            assert job.status == ImportJob.Status.DONE, (job.status, job.errors)
            assert job.rows_loaded == events_added == len(rows)
            assert (again.status, again.rows_loaded, again.rows_already_loaded) == (ImportJob.Status.DONE, 0, len(rows))
            assert events_after_again == events_added, "loading the same file again added events"

    upload_extract()


def upload_through_the_page(client: Client, content: bytes):
    response = client.post("/caseload/service-use/import/", {"file": upload(content, "extract.csv")})
    assert response.status_code == 302, response.status_code
    job = ImportJob.objects.get(pk=response["Location"].rstrip("/").rsplit("/", 1)[1])
    return job, client.get(response["Location"])


# --- what the examples above found, kept as plain examples ------------------------------------------------


def test_a_bare_word_as_the_page_to_go_back_to_after_signing_is_followed_not_looked_up(db, world, client):
    client.force_login(world.member(world.own, Role.GP))
    response = client.post(f"/meetings/teams/{world.own.slug}/decisions/{world.objects['decision'].pk}/sign/", {"next": "0"})
    assert (response.status_code, response["Location"]) == (302, "0")


@pytest.mark.parametrize("item", ["²", "9" * 5_000, "\x00"])
def test_removing_an_item_named_by_nonsense_says_it_is_no_longer_on_the_agenda(db, world, client, item):
    client.force_login(world.member(world.own, Role.COORDINATOR))
    response = client.post(f"/meetings/teams/{world.own.slug}/{meeting(world).pk}/agenda/remove/", {"item": item}, follow=True)
    assert "That resident is no longer on the agenda." in response.text
    assert meeting(world).items.count() == 1


@pytest.mark.parametrize("practice", ["²", "9" * 5_000])
def test_a_pressure_report_for_a_practice_named_by_nonsense_shows_the_form_again(db, world, client, practice):
    client.force_login(world.member(world.own, Role.PRACTICE_MANAGER))
    assert client.get("/pressure/report/", {"practice": practice}).status_code == 200
    response = client.post("/pressure/report/", {"practice": practice, "level": "3"})
    assert response.status_code == 200 and "nhsuk-error-message" in response.text


def extract(*rows: str, newline: str = "\n") -> bytes:
    return newline.join([",".join(HEADER), *rows, ""]).encode()


def test_an_extract_with_a_zero_byte_is_refused_at_its_line(db, world):
    resident = world.objects["active"]
    job = import_job_create(
        content=extract(
            f"{resident.nhs_number},{timezone.localdate()},ae_attendance,ED,1", f"{resident.nhs_number},2026-01-0\x001,ae_attendance,ED,2"
        ),
        file_name="extract.csv", teams=[world.own], by=world.member(world.own, Role.COORDINATOR),
    )
    assert job.status == ImportJob.Status.REFUSED and [error["line"] for error in job.errors] == [3]
    assert "zero byte" in job.errors[0]["message"]


def test_an_extract_saved_with_old_mac_line_breaks_loads(db, world):
    resident = world.objects["active"]
    day = timezone.localdate() - datetime.timedelta(days=3)
    job = import_job_create(
        content=extract(f"{resident.nhs_number},{day},ae_attendance,ED,1", f"{resident.nhs_number},{day},ae_attendance,ED,2", newline="\r"),
        file_name="extract.csv", teams=[world.own], by=world.member(world.own, Role.COORDINATOR),
    )
    assert (job.status, job.rows_loaded) == (ImportJob.Status.DONE, 2)


def test_a_value_too_long_to_read_is_refused_at_its_line(db, world):
    resident = world.objects["active"]
    day = timezone.localdate() - datetime.timedelta(days=3)
    job = import_job_create(
        content=extract(f"{resident.nhs_number},{day},ae_attendance,ED,1", f"{resident.nhs_number},{day},ae_attendance,ED,{'X' * 140_000}"),
        file_name="extract.csv", teams=[world.own], by=world.member(world.own, Role.COORDINATOR),
    )
    assert job.status == ImportJob.Status.REFUSED and [error["line"] for error in job.errors] == [3]
    assert not ServiceUseEvent.objects.filter(source="ED").exists()
