"""Every form is drawn by one NHS.UK renderer (settings.FORM_RENDERER): a person using a screen
reader hears each field's hint and error, and the error summary takes them to the field."""

from html.parser import HTMLParser

import pytest
import time_machine
from django import forms
from django.core.cache import cache
from django.forms.renderers import DjangoTemplates
from django.test.html import parse_html

from int_app.teams.renderers import NHSFormRenderer
from int_app.teams.roles import Role

from .access import ROWS, build_world, load_feature_rows

load_feature_rows()

# Probes and downloads: no form on them.
NOT_PAGES = {"healthz", "readyz", "kpis:export"}


class PageReferences(HTMLParser):
    """The ids on a page, the ids its fields are described by, and where its error summary links."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.described_by: list[str] = []
        self.summary_links: list[str] = []
        self._in_summary = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if attr.get("id"):
            self.ids.add(attr["id"])
        self.described_by += (attr.get("aria-describedby") or "").split()
        if tag == "ul" and "nhsuk-error-summary__list" in (attr.get("class") or ""):
            self._in_summary += 1
        elif tag == "a" and self._in_summary and (attr.get("href") or "").startswith("#"):
            self.summary_links.append(attr["href"][1:])

    def handle_endtag(self, tag: str) -> None:
        if tag == "ul" and self._in_summary:
            self._in_summary -= 1


def viewer(row, world, own_team):
    if row.public:
        return None
    role = Role.COORDINATOR if Role.COORDINATOR in row.roles else sorted(row.roles)[0]
    return world.member(own_team, role)


@time_machine.travel("2026-06-10 10:00:00+00:00", tick=False)
def test_on_every_page_and_every_form_sent_wrong_each_field_is_described_by_what_is_on_the_page(client, own_team, other_team):
    world = build_world(own_team, other_team)
    dangling = []
    for row in ROWS:
        # Pages no role in a team opens (a staff admin's invitations) have their own form tests
        # (tests/teams/test_invitations.py).
        if row.name in NOT_PAGES or (not row.public and not row.roles):
            continue
        for method in row.methods:
            if method == "GET" and 404 in row.get_ok:
                continue
            cache.clear()
            client.logout()
            if person := viewer(row, world, own_team):
                client.force_login(person)
            # A field nobody has makes the form bound, so every required field is in error.
            response = client.get(row.path(world)) if method == "GET" else client.post(row.path(world), {"unexpected": "1"})
            if "text/html" not in response.get("Content-Type", ""):
                continue
            page = PageReferences()
            page.feed(response.content.decode())
            missing = sorted({ref for ref in page.described_by + page.summary_links if ref not in page.ids})
            if missing:
                dangling.append(f"{method} {row.name}: {missing}")
    assert not dangling, "aria-describedby or error-summary links to ids not on the page:\n" + "\n".join(dangling)


class Referral(forms.Form):
    practice = forms.ChoiceField(
        choices=[("", "Choose a practice"), ("North", [("1", "Elm Surgery"), ("2", "Oak & Ash <Practice>")]), ("3", "Riverside")],
        widget=forms.Select(attrs={"class": "nhsuk-select"}),
        help_text="The resident's GP practice.",
    )
    services = forms.MultipleChoiceField(choices=[("a", "Falls"), ("b", "Memory")], widget=forms.SelectMultiple)


@pytest.mark.parametrize("data", [None, {"practice": "2", "services": ["a", "b"]}, {"practice": "nonsense"}])
def test_a_select_is_drawn_as_djangos_own_template_draws_it(data):
    ours = Referral(data, renderer=NHSFormRenderer())
    django = Referral(data, renderer=DjangoTemplates())
    for name in ("practice", "services"):
        assert parse_html(str(ours[name])) == parse_html(str(django[name]))


class Contact(forms.Form):
    """One field of each input widget, with a value that needs escaping and attributes of each kind."""

    name = forms.CharField(widget=forms.TextInput(attrs={"class": "nhsuk-input", "autocomplete": "off", "spellcheck": False}))
    age = forms.IntegerField(widget=forms.NumberInput(attrs={"min": 0}))
    email = forms.EmailField(widget=forms.EmailInput)
    website = forms.URLField(widget=forms.URLInput)
    secret = forms.CharField(widget=forms.PasswordInput(render_value=True))
    version = forms.IntegerField(widget=forms.HiddenInput)
    born = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    seen = forms.DateTimeField(widget=forms.DateTimeInput)
    at = forms.TimeField(widget=forms.TimeInput)
    consent = forms.BooleanField(widget=forms.CheckboxInput(attrs={"required": True}))
    q = forms.CharField(widget=forms.SearchInput)
    phone = forms.CharField(widget=forms.TelInput)
    colour = forms.CharField(widget=forms.ColorInput)
    letter = forms.FileField(widget=forms.FileInput)


@pytest.mark.parametrize(
    "data",
    [
        None,
        {"name": 'O\'Brien <script>"&', "age": "91", "email": "a@b", "secret": "x<y", "version": "3", "born": "2026-01-02",
         "seen": "2026-01-02 10:00", "at": "10:00", "consent": "on", "q": "smith & sons", "phone": "0121", "colour": "#ff0000"},
    ],
)
def test_an_input_is_drawn_exactly_as_djangos_own_templates_draw_it(data):
    # Drawn in Python to spare three template renders per field; the page must not change by a byte.
    ours = Contact(data, renderer=NHSFormRenderer())
    django = Contact(data, renderer=DjangoTemplates())
    for name in Contact.base_fields:
        assert str(ours[name]) == str(django[name]), name


def test_a_field_in_error_is_one_nhs_form_group_with_its_hint_and_message():
    group = Referral({"practice": "nonsense"}, renderer=NHSFormRenderer())["practice"].as_field_group()
    assert 'class="nhsuk-form-group nhsuk-form-group--error"' in group
    assert '<label class="nhsuk-label" for="id_practice">Practice</label>' in group
    assert '<div class="nhsuk-hint" id="id_practice_helptext">' in group
    assert '<span class="nhsuk-error-message" id="id_practice_error"><span class="nhsuk-u-visually-hidden">Error:</span> Select a valid choice.' in group
    assert 'aria-describedby="id_practice_helptext id_practice_error"' in group
