"""The sample, draw and patient lists (issue 15): filtered with the API's FilterSets
(biobank.filtersets), read through the API's selectors, sorted by a whitelisted column,
paginated keys first, exported as a streamed, spreadsheet-safe CSV.

The query string is the API's: `?patient=P-001&timepoint=PRE&ordering=-drawn_at` lists
on /draws/ the draws /api/v1/draws/ answers with, and the page's "Export CSV" link
carries the same filters and sort.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.forms import NullBooleanSelect
from django.http import QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse

from biobank import filtersets
from biobank.api.pagination import KeysFirstPaginator
from biobank.csv_stream import csv_response
from biobank.forms.samples import FindSampleForm
from biobank.models import Aliquot, position_label
from biobank.selectors.draws import draws_with_tube_counts
from biobank.selectors.patients import patients_with_counts
from biobank.selectors.samples import ALIQUOT_LIST_KEYS, aliquot_rows

from .access import needs

PAGE_SIZE = 50
CSV_CHUNK = 2000


class RowsPaginator(KeysFirstPaginator):
    """The API's keys-first paginator: the count and the page's keys are read from
    `object_list` (filtered and ordered, joined only where a filter or the sort needs
    it), then the page's rows by primary key through `fetch(keys)` (model rows or
    `.values()` rows). A deep page costs an index scan of keys, not a join of every
    row before the offset. The ordering always ends with the primary key
    (ListSpec.filtered)."""

    def __init__(self, object_list, per_page, *, fetch: Callable):
        super().__init__(object_list, per_page)
        self.fetch = fetch

    def rows(self, bottom: int, top: int):
        keys = list(self.object_list.values_list("pk", flat=True)[bottom:top])
        page = self.fetch(keys)
        key_of = (lambda row: row["id"]) if page._fields else (lambda row: row.pk)
        by_key = {key_of(row): row for row in page}
        return [by_key[key] for key in keys if key in by_key]


@dataclass(frozen=True)
class Column:
    label: str
    sort: str = ""  # the `ordering` value that sorts by this column; "" not sortable


@dataclass(frozen=True)
class ListSpec:
    """What one list page is: its FilterSet, its selector, its columns and sorts."""

    filterset_class: type
    selector: Callable  # the rows, as the API lists them
    columns: tuple[Column, ...]
    # `ordering` value -> ORM paths. The API's ordering names where the API has them.
    sorts: dict[str, tuple[str, ...]]
    default_sort: str
    csv_columns: tuple[tuple[str, Callable], ...]
    filename: str
    url_name: str
    csv_url_name: str
    hidden_filters: tuple[str, ...] = field(default=())  # shown elsewhere on the page
    # What the page counts and pages on when the selector's rows carry joins a count
    # need not run (the `.values()` rows of the aliquot list); default: the selector.
    keys_from: Callable | None = None

    def filtered(self, params: QueryDict, queryset):
        """(the bound FilterSet, `queryset` filtered in the chosen order, the
        `ordering` value)."""
        filters = self.filterset_class(params or None, queryset=queryset)
        rows = filters.qs if not filters.is_bound or filters.is_valid() else filters.qs.none()
        ordering = params.get("ordering", "")
        if ordering.lstrip("-") not in self.sorts:
            ordering = self.default_sort
        descending = ordering.startswith("-")
        paths = self.sorts[ordering.lstrip("-")]
        order = [f"-{path}" if descending else path for path in paths]
        return filters, rows.order_by(*order, "-pk" if descending else "pk"), ordering


def _query(params: QueryDict, **changes) -> str:
    """The query string with `changes` set (None: removed)."""
    query = params.copy()
    for key, value in changes.items():
        query.pop(key, None)
        if value is not None:
            query[key] = value
    return query.urlencode()


def _header(spec: ListSpec, params: QueryDict, ordering: str) -> list[dict]:
    """Each column's label, and for a sortable one the link that sorts by it (the other
    way round when it is the current sort) and its aria-sort."""
    cells = []
    for column in spec.columns:
        cell = {"label": column.label, "url": "", "aria_sort": "", "arrow": ""}
        if column.sort:
            current = ordering.lstrip("-") == column.sort
            descending = ordering.startswith("-")
            next_sort = f"-{column.sort}" if current and not descending else column.sort
            cell["url"] = "?" + _query(params, ordering=next_sort, page=None)
            if current:
                cell["aria_sort"] = "descending" if descending else "ascending"
                cell["arrow"] = " ▼" if descending else " ▲"
        cells.append(cell)
    return cells


# A yes/no filter left empty filters nothing: "Any" on the page (django-filter's
# select says "Unknown", the API's value for it).
ANY_YES_NO = [("unknown", "Any"), ("true", "Yes"), ("false", "No")]


def list_context(request, spec: ListSpec) -> dict:
    params = request.GET
    filters, rows, ordering = spec.filtered(params, (spec.keys_from or spec.selector)())
    for form_field in filters.form.fields.values():
        if isinstance(form_field.widget, NullBooleanSelect):
            form_field.widget.choices = ANY_YES_NO
    paginator = RowsPaginator(
        rows, PAGE_SIZE, fetch=lambda keys: spec.selector().filter(pk__in=keys)
    )
    page = paginator.get_page(params.get("page"))
    return {
        "filters": filters,
        "filter_fields": [f for f in filters.form if f.name not in spec.hidden_filters],
        "page": page,
        "rows": page.object_list,
        "header": _header(spec, params, ordering),
        "ordering": ordering,
        "page_query": _query(params, page=None),
        "csv_url": reverse(spec.csv_url_name) + "?" + _query(params, page=None),
        "list_url": reverse(spec.url_name),
        "filtered": any(params.get(f.name) for f in filters.form),
    }


def export_csv(request, spec: ListSpec):
    """Every row the filters select, in the list's order, streamed."""
    _filters, rows, _ordering = spec.filtered(request.GET, spec.selector())
    return csv_response(
        filename=spec.filename,
        columns=spec.csv_columns,
        rows=rows.iterator(chunk_size=CSV_CHUNK),
    )


# ---------------------------------------------------------------- samples


STATUS_LABELS = dict(Aliquot.Status.choices)

SAMPLES = ListSpec(
    filterset_class=filtersets.AliquotFilterSet,
    selector=lambda: aliquot_rows(ALIQUOT_LIST_KEYS),
    keys_from=Aliquot.objects.all,
    columns=(
        Column("Barcode", "barcode"),
        Column("Patient", "study_id"),
        Column("Timepoint", "timepoint"),
        Column("Status", "status"),
        Column("Volume (µl)", "volume_ul"),
        Column("Thaws", "freeze_thaw_count"),
        Column("Place", "place"),
        Column("Freezer"),
        Column("Created", "created_at"),
    ),
    sorts={
        "barcode": ("barcode",),
        "study_id": ("draw__patient__study_id", "draw__drawn_at", "barcode"),
        "timepoint": ("draw__timepoint", "barcode"),
        "status": ("status", "barcode"),
        "volume_ul": ("volume_ul", "barcode"),
        "freeze_thaw_count": ("freeze_thaw_count", "barcode"),
        "place": ("box__barcode", "row", "column"),
        "created_at": ("created_at",),
        "id": ("id",),
    },
    default_sort="barcode",
    csv_columns=(
        ("barcode", lambda row: row["barcode"]),
        ("study_id", lambda row: row["draw__patient__study_id"]),
        ("timepoint", lambda row: row["draw__timepoint"]),
        ("status", lambda row: row["status"]),
        ("volume_ul", lambda row: row["volume_ul"]),
        ("initial_volume_ul", lambda row: row["initial_volume_ul"]),
        ("freeze_thaw_count", lambda row: row["freeze_thaw_count"]),
        ("freezer", lambda row: row["box__rack__freezer__name"]),
        ("rack", lambda row: row["box__rack__name"]),
        ("box", lambda row: row["box__barcode"]),
        (
            "position",
            lambda row: position_label(row["row"], row["column"]) if row["box_id"] else None,
        ),
        ("created_at", lambda row: row["created_at"].isoformat()),
    ),
    filename="samples.csv",
    url_name="web:sample_find",
    csv_url_name="web:sample_list_csv",
    hidden_filters=("barcode",),  # the scan box on top is the barcode filter
)


@needs("biobank.view_aliquot")
def sample_list(request):
    """The scan box on top, the list below. A scanned barcode that names a tube exactly
    opens its page; otherwise it filters the list (barcode contains, any case), and
    the scan field says so when no tube matches at all."""
    scanned = (request.GET.get("barcode") or "").strip()
    form = FindSampleForm(request.GET if scanned else None)
    if scanned and form.is_valid():
        return redirect("web:sample_detail", pk=form.cleaned_data["barcode"].pk)
    context = list_context(request, SAMPLES)
    if scanned and context["page"].paginator.count:
        form.errors.pop("barcode", None)  # not one tube, but some contain it: listed
    for row in context["rows"]:
        row["position"] = position_label(row["row"], row["column"]) if row["box_id"] else ""
        row["status_label"] = STATUS_LABELS.get(row["status"], row["status"])
    return render(
        request,
        "web/sample_list.html",
        {
            **context,
            "form": form,
            "scanned": scanned,
            "scanned_inputs": [("barcode", scanned)] if scanned else [],
        },
    )


@needs("biobank.view_aliquot")
def sample_list_csv(request):
    return export_csv(request, SAMPLES)


# ---------------------------------------------------------------- draws

DRAWS = ListSpec(
    filterset_class=filtersets.SerumDrawFilterSet,
    selector=draws_with_tube_counts,
    columns=(
        Column("Patient", "patient__study_id"),
        Column("Timepoint", "timepoint"),
        Column("Drawn", "drawn_at"),
        Column("Days after TACE", "days_after_treatment"),
        Column("Serum (µl)", "serum_volume_ul"),
        Column("Haemolysis", "haemolysis"),
        Column("Tubes stored / cut", "n_stored"),
        Column("SPREC"),
    ),
    sorts={
        "patient__study_id": ("patient__study_id", "drawn_at"),
        "timepoint": ("timepoint", "patient__study_id"),
        "drawn_at": ("drawn_at",),
        "days_after_treatment": ("days_after_treatment", "drawn_at"),
        "serum_volume_ul": ("serum_volume_ul", "drawn_at"),
        "haemolysis": ("haemolysis", "drawn_at"),
        "n_stored": ("n_stored", "drawn_at"),
    },
    default_sort="patient__study_id",
    csv_columns=(
        ("study_id", lambda draw: draw.patient.study_id),
        ("timepoint", lambda draw: draw.timepoint),
        ("drawn_at", lambda draw: draw.drawn_at.isoformat()),
        ("days_after_treatment", lambda draw: draw.days_after_treatment),
        ("outside_window", lambda draw: draw.outside_window),
        ("serum_volume_ul", lambda draw: draw.serum_volume_ul),
        ("haemolysis", lambda draw: draw.haemolysis),
        ("container", lambda draw: draw.container),
        ("aliquots", lambda draw: draw.n_aliquots),
        ("stored", lambda draw: draw.n_stored),
        ("sprec_code", lambda draw: draw.sprec_code),
        ("note", lambda draw: draw.note),
    ),
    filename="draws.csv",
    url_name="web:draw_list",
    csv_url_name="web:draw_list_csv",
)


@needs("biobank.view_serumdraw")
def draw_list(request):
    return render(request, "web/draw_list.html", list_context(request, DRAWS))


@needs("biobank.view_serumdraw")
def draw_list_csv(request):
    return export_csv(request, DRAWS)


# ---------------------------------------------------------------- patients


PATIENTS = ListSpec(
    filterset_class=filtersets.PatientFilterSet,
    selector=patients_with_counts,
    columns=(
        Column("Study id", "study_id"),
        Column("Sex", "sex"),
        Column("Age", "age_at_enrolment"),
        Column("Liver", "liver_background"),
        Column("Etiology", "etiology"),
        Column("T2D", "type2_diabetes"),
        Column("Consent", "consent_date"),
        Column("Withdrawn", "withdrawn_on"),
        Column("Draws", "n_draws"),
        Column("Tubes stored", "n_stored"),
    ),
    sorts={
        "study_id": ("study_id",),
        "sex": ("sex", "study_id"),
        "age_at_enrolment": ("age_at_enrolment", "study_id"),
        "liver_background": ("liver_background", "study_id"),
        "etiology": ("etiology", "study_id"),
        "type2_diabetes": ("type2_diabetes", "study_id"),
        "consent_date": ("consent_date", "study_id"),
        "withdrawn_on": ("withdrawn_on", "study_id"),
        "n_draws": ("n_draws", "study_id"),
        "n_stored": ("n_stored", "study_id"),
    },
    default_sort="study_id",
    # Pseudonymous: never a column of PatientIdentity, whoever exports.
    csv_columns=(
        ("study_id", lambda patient: patient.study_id),
        ("sex", lambda patient: patient.sex),
        ("age_at_enrolment", lambda patient: patient.age_at_enrolment),
        ("liver_background", lambda patient: patient.liver_background),
        ("etiology", lambda patient: patient.etiology),
        ("type2_diabetes", lambda patient: patient.type2_diabetes),
        ("consent_date", lambda patient: patient.consent_date.isoformat()),
        ("withdrawn_on", lambda patient: patient.withdrawn_on and patient.withdrawn_on.isoformat()),
        ("draws", lambda patient: patient.n_draws),
        ("tubes_stored", lambda patient: patient.n_stored),
    ),
    filename="patients.csv",
    url_name="web:patient_list",
    csv_url_name="web:patient_list_csv",
)


@needs("biobank.view_patient")
def patient_list(request):
    return render(request, "web/patient_list.html", list_context(request, PATIENTS))


@needs("biobank.view_patient")
def patient_list_csv(request):
    return export_csv(request, PATIENTS)
