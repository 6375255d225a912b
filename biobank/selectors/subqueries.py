"""Correlated subqueries for list pages and API lists: a related value or a count read
for the rows of the page only."""

from __future__ import annotations

from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce


def count_of(model, field: str, **conditions) -> Coalesce:
    """A correlated COUNT(*) subquery: evaluated for the rows of the page only, where a
    JOIN + GROUP BY would aggregate the whole table before paginating."""
    counted = (
        model.objects.filter(**{field: OuterRef("pk")}, **conditions)
        .order_by()
        .values(field)
        .annotate(n=Count("*"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def column_of(model, key: str, path: str) -> Subquery:
    """A value of a related row as a correlated subquery (for one record's answer).
    Unlike select_related or an F() across a join, it adds no JOIN. No ORDER BY: the
    primary key names one row, the model's default ordering would only add a sort."""
    return Subquery(model.objects.filter(pk=OuterRef(key)).order_by().values(path)[:1])
