"""Number formatting for reports: the precision a reader of the paper expects."""

from django import template
from django.utils.safestring import mark_safe

register = template.Library()


@register.filter
def num(value, digits=3):
    """A float to `digits` decimals; '–' for a missing value."""
    if value is None or value == "":
        return "–"
    try:
        return f"{float(value):.{int(digits)}f}"
    except (TypeError, ValueError):
        return str(value)


@register.filter
def pvalue(value):
    """P as the paper prints it: three decimals, '<0.001' below that; bold under 0.05."""
    if value is None:
        return "–"
    text = "<0.001" if value < 0.001 else f"{value:.3f}"
    return mark_safe(f"<strong>{text}</strong>") if value < 0.05 else text


@register.filter
def get(mapping, key):
    return (mapping or {}).get(key)
