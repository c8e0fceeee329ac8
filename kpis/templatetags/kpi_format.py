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

