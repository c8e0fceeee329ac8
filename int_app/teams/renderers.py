"""How every form in the project looks: one renderer (settings.FORM_RENDERER) draws each field as
an NHS.UK form group from templates/nhsuk/field.html, so a page writes
`{{ form.field_name.as_field_group }}` and the error summary is templates/nhsuk/error_summary.html."""

from django.forms.renderers import TemplatesSetting
from django.forms.utils import flatatt
from django.forms.widgets import Select
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString


class NHSFormRenderer(TemplatesSetting):
    field_template_name = "nhsuk/field.html"

    def render(self, template_name: str, context: dict, request=None) -> str:
        # Django's select template includes a template for every option, which made the KPI
        # and caseload filters a third of their pages' time; drawn here, it is the same markup.
        if template_name == Select.template_name and all(
            option["template_name"] == Select.option_template_name
            for _name, options, _index in context["widget"]["optgroups"]
            for option in options
        ):
            return select_html(context["widget"])
        return super().render(template_name, context, request)


def select_html(widget: dict) -> SafeString:
    """What django/forms/widgets/select.html renders, for a widget's template context."""

    def options_html(options: list[dict]) -> SafeString:
        return format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            ((str(option["value"]), flatatt(option["attrs"]), option["label"]) for option in options),
        )

    groups = format_html_join(
        "",
        "{}",
        (
            (format_html('<optgroup label="{}">{}</optgroup>', name, options_html(options)) if name else options_html(options),)
            for name, options, _index in widget["optgroups"]
        ),
    )
    return format_html('<select name="{}"{}>{}</select>', widget["name"], flatatt(widget["attrs"]), groups)
