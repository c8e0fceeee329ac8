"""Every form is drawn by one NHS.UK renderer (settings.FORM_RENDERER): a person using a screen
reader hears each field's hint and error, and the error summary takes them to the field."""

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates
from django.test.html import parse_html

from int_app.teams.renderers import NHSFormRenderer


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


def test_a_field_in_error_is_one_nhs_form_group_with_its_hint_and_message():
    group = Referral({"practice": "nonsense"}, renderer=NHSFormRenderer())["practice"].as_field_group()
    assert 'class="nhsuk-form-group nhsuk-form-group--error"' in group
    assert '<label class="nhsuk-label" for="id_practice">Practice</label>' in group
    assert '<div class="nhsuk-hint" id="id_practice_helptext">' in group
    assert '<span class="nhsuk-error-message" id="id_practice_error"><span class="nhsuk-u-visually-hidden">Error:</span> Select a valid choice.' in group
    assert 'aria-describedby="id_practice_helptext id_practice_error"' in group
