"""How KPI numbers read on the page: signed percentages with a real minus sign, whole numbers
with thousands separators, and "–" where there is no figure."""

from django import template

register = template.Library()

MINUS = "\u2212"
NO_FIGURE = "–"


def _signed(value: float, decimals: int) -> str:
    text = f"{abs(value):,.{decimals}f}"
    if round(value, decimals) == 0:
        return text
    return f"{MINUS if value < 0 else '+'}{text}"


@register.filter
def signed_pct(value: float | None, decimals: int = 1) -> str:
    return NO_FIGURE if value is None else f"{_signed(value, decimals)}%"


@register.filter
def signed_number(value: float | None, decimals: int = 0) -> str:
    return NO_FIGURE if value is None else _signed(value, decimals)


@register.filter
def whole(value: float | None) -> str:
    return NO_FIGURE if value is None else f"{round(value):,}"


@register.filter
def one_dp(value: float | None) -> str:
    return NO_FIGURE if value is None else f"{value:,.1f}"


@register.filter
def fraction(value: float | None) -> float:
    """A percentage as 0 to 1, for <meter>."""
    return 0.0 if value is None else round(value / 100, 4)


@register.simple_tag
def withheld() -> str:
    """What a figure about too few residents shows instead of its numbers."""
    from kpis.dashboard import withheld_text

    return withheld_text()


@register.simple_tag
def pct_interval(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "no interval (too few residents or no contacts before)"
    return f"{signed_pct(low)} to {signed_pct(high)}"


@register.simple_tag
def filter_field(field) -> str:
    """One NHS.UK form group for a filter, as includes/form_field.html draws it, written out
    in Python: Django's widget templates draw a select option by option, which made the
    filters a third of the dashboard's time."""
    from django.forms import ChoiceField
    from django.utils.html import format_html, format_html_join

    error_id = f"{field.auto_id}-error"
    errors = format_html_join(
        "",
        '<span class="nhsuk-error-message" id="{}"><span class="nhsuk-u-visually-hidden">Error:</span> {}</span>',
        ((error_id, error) for error in field.errors),
    )
    hint = (
        format_html('<div class="nhsuk-hint" id="{}_helptext">{}</div>', field.auto_id, field.help_text)
        if field.help_text
        else ""
    )
    described_by = " ".join(
        ([f"{field.auto_id}_helptext"] if field.help_text else []) + ([error_id] if field.errors else [])
    )
    described = format_html(' aria-describedby="{}"', described_by) if described_by else ""
    classes = field.field.widget.attrs.get("class", "")
    if isinstance(field.field, ChoiceField):
        chosen = "" if field.value() is None else str(field.value())
        options = format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            ((value, " selected" if str(value) == chosen else "", label) for value, label in field.field.choices),
        )
        control = format_html('<select name="{}" id="{}" class="{}"{}>{}</select>', field.html_name, field.auto_id, classes, described, options)
    else:
        control = field.as_widget(attrs={"aria-describedby": described_by} if described_by else None)
    return format_html(
        '<div class="nhsuk-form-group{}"><label class="nhsuk-label" for="{}">{}</label>{}{}{}</div>',
        " nhsuk-form-group--error" if field.errors else "",
        field.id_for_label,
        field.label,
        hint,
        errors,
        control,
    )

