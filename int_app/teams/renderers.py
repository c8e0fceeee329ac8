"""How every form in the project looks: one renderer (settings.FORM_RENDERER) draws each field as
an NHS.UK form group from templates/nhsuk/field.html, so a page writes
`{{ form.field_name.as_field_group }}` and the error summary is templates/nhsuk/error_summary.html."""

from django.forms.renderers import TemplatesSetting
from django.forms.widgets import Select
from django.utils.html import conditional_escape, escape
from django.utils.safestring import SafeString, mark_safe

# input.html and Django's templates that are nothing but `{% include "django/forms/widgets/input.html" %}`:
# each input was three template renders (the widget's, input.html and attrs.html). A project
# template overriding one of them would be passed over: there is none (templates/django/).
INPUT_TEMPLATES = frozenset(
    f"django/forms/widgets/{name}.html"
    for name in ("input", "checkbox", "color", "date", "datetime", "email", "file", "hidden", "number", "password", "search", "tel", "text", "time", "url")
)


class NHSFormRenderer(TemplatesSetting):
    field_template_name = "nhsuk/field.html"

    def render(self, template_name: str, context: dict, request=None) -> str:
        # Django's select template includes a template for every option, which made the KPI
        # filters a third of the dashboard's time; drawn here, it is the same markup. So are
        # inputs, on every form of every page (tests/test_form_renderer.py holds both to Django's
        # own templates, character for character).
        if template_name == Select.template_name and all(
            option["template_name"] == Select.option_template_name
            for _name, options, _index in context["widget"]["optgroups"]
            for option in options
        ):
            return select_html(context["widget"])
        if template_name in INPUT_TEMPLATES:
            return input_html(context["widget"])  # Django strips what a widget's template renders
        return super().render(template_name, context, request)


def attrs_html(attrs: dict) -> str:
    """What django/forms/widgets/attrs.html renders: True as a bare name, False left out, a value
    escaped unless it is already safe (the template's stringformat keeps safe strings safe)."""
    return "".join(
        f" {escape(name)}" if value is True else f' {escape(name)}="{conditional_escape(value)}"'
        for name, value in attrs.items()
        if value is not False
    )


def input_html(widget: dict) -> SafeString:
    """What django/forms/widgets/input.html renders, for a widget's template context."""
    value = "" if widget["value"] is None else f' value="{conditional_escape(widget["value"])}"'
    return mark_safe(
        f'<input type="{conditional_escape(widget["type"])}" name="{conditional_escape(widget["name"])}"{value}{attrs_html(widget["attrs"])}>'
    )


def options_html(options: list[dict]) -> str:
    return "".join(
        f'<option value="{escape(str(option["value"]))}"{attrs_html(option["attrs"])}>{conditional_escape(option["label"])}</option>'
        for option in options
    )


def select_html(widget: dict) -> SafeString:
    """What django/forms/widgets/select.html renders, for a widget's template context."""
    groups = "".join(
        f'<optgroup label="{escape(name)}">{options_html(options)}</optgroup>' if name else options_html(options)
        for name, options, _index in widget["optgroups"]
    )
    return mark_safe(f'<select name="{escape(widget["name"])}"{attrs_html(widget["attrs"])}>{groups}</select>')
