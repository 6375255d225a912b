"""Looking up what was scanned: the rows in the order scanned, and the codes none has."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet


def in_scan_order(queryset: QuerySet, field: str, codes: Iterable[str]) -> tuple[list, list[str]]:
    """The rows of `queryset` whose `field` is one of `codes`, in the order of `codes`
    (a code given twice gives its row twice, so a service can refuse the repeat), and
    the codes that match no row. One query."""
    wanted = list(codes)
    found = {getattr(row, field): row for row in queryset.filter(**{f"{field}__in": wanted})}
    return [found[code] for code in wanted if code in found], [
        code for code in wanted if code not in found
    ]
