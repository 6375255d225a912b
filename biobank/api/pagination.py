"""Page-number pagination with a client-chosen page size (bounded), keys first.

A page deep in a large table (page 1,800 of the wells) is cheap: the page's primary
keys are read first, ordered and offset on their own (an index scan, no joins but the
filters'), and only those rows are then read with their related records. Slicing the
full query instead makes the database join every row before the offset; on 186,000
wells that is the difference between ~25 ms and ~400 ms a page. The primary key breaks
ties in the ordering, so a page never repeats or skips a row.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import QuerySet
from rest_framework.pagination import CursorPagination, PageNumberPagination


class KeysFirstPaginator(Paginator):
    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        return self._get_page(self.rows(bottom, top), number, self)

    def rows(self, bottom: int, top: int):
        records = self.object_list
        if (
            not isinstance(records, QuerySet)
            or records.query.distinct
            or records.query.combinator
            or not records.ordered
        ):
            return records[bottom:top]
        ordering = list(records.query.order_by) or list(records.model._meta.ordering)
        if not {"pk", "-pk", "id", "-id"} & {str(item) for item in ordering}:
            # A tie-breaker, so that rows equal in the ordering (a sort by Cq) never
            # appear on two pages or on none.
            records = records.order_by(*ordering, "pk")
        keys = list(records.values_list("pk", flat=True)[bottom:top])
        by_key = {record.pk: record for record in records.order_by().filter(pk__in=keys)}
        return [by_key[key] for key in keys if key in by_key]


class Pagination(PageNumberPagination):
    """`?page=2&page_size=200`; 50 a page by default, at most 1,000."""

    django_paginator_class = KeysFirstPaginator
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 1000


class LargeCollectionPagination(CursorPagination):
    """Cursor pagination for the large, growing collections (aliquots, wells, the
    custody log): follow `next` / `previous`. Each page costs the same at any depth
    and there is no COUNT over the table; a row added while a client walks the list
    never makes it see another row twice or miss one. The ordering must be on the
    model's own non-null fields (the views restrict `ordering` to them)."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = "pk"

    def get_ordering(self, request, queryset, view):
        """The view's ordering with the primary key last, so rows tied on the first
        field (the cursor's position) always come in the same order."""
        ordering = list(super().get_ordering(request, queryset, view))
        if not {"pk", "-pk", "id", "-id"} & set(ordering):
            ordering.append("-pk" if ordering[0].startswith("-") else "pk")
        return tuple(ordering)
