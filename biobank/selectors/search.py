"""The header's search: one box for a tube, a patient's tubes, a box, a plate, an RT
product or an extraction batch, by any part of its code, in any case (issue 15).

A scanner types a whole barcode; a person types part of one, in lower case. Both land
here. Each kind is searched only when the user may view it, and a patient is found by
study id only (never by identity: identities are the curators', and not searched); a
patient's study id finds the patient's page and every tube cut from them."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Q
from django.urls import reverse

from biobank.models import (
    Aliquot,
    Box,
    ExosomeIsolationBatch,
    Patient,
    QpcrPlate,
    ReverseTranscription,
)

# Per kind, at most this many hits are listed (the page says when there were more).
LIMIT = 25
# Shorter texts match too much to be useful as a part of a code.
MIN_PARTIAL = 2


@dataclass(frozen=True)
class Hit:
    code: str
    url: str
    detail: str
    exact: bool


@dataclass
class HitGroup:
    kind: str
    hits: list[Hit] = field(default_factory=list)
    more: bool = False


@dataclass
class SearchResults:
    text: str
    groups: list[HitGroup]

    @property
    def count(self) -> int:
        return sum(len(group.hits) for group in self.groups)

    @property
    def only_exact(self) -> Hit | None:
        """The one object whose whole code is the text (a scan), when there is exactly one."""
        exact = [hit for group in self.groups for hit in group.hits if hit.exact]
        return exact[0] if len(exact) == 1 else None


def _group(kind, queryset, *, text, code_field, url_name, detail, url_key="pk") -> HitGroup:
    rows = list(queryset[: LIMIT + 1])
    group = HitGroup(kind, more=len(rows) > LIMIT)
    for row in rows[:LIMIT]:
        code = getattr(row, code_field)
        group.hits.append(
            Hit(
                code=code,
                url=reverse(url_name, args=[getattr(row, url_key)]),
                detail=detail(row),
                exact=code.casefold() == text.casefold(),
            )
        )
    return group


def _tube_detail(aliquot: Aliquot) -> str:
    draw = aliquot.draw
    place = f"{aliquot.box.barcode} {aliquot.position}" if aliquot.box_id else ""
    return " · ".join(
        part
        for part in (
            draw.patient.study_id,
            draw.get_timepoint_display(),
            aliquot.get_status_display(),
            place,
        )
        if part
    )


def search(*, text: str, user) -> SearchResults:
    """What matches `text` (case-insensitive, any part of the code; a whole code first)."""
    text = text.strip()
    results = SearchResults(text, [])
    if not text:
        return results
    partial = len(text) >= MIN_PARTIAL

    def matching(field_name: str) -> Q:
        exact = Q(**{f"{field_name}__iexact": text})
        return exact | Q(**{f"{field_name}__icontains": text}) if partial else exact

    if user.has_perm("biobank.view_patient") and user.has_perm("biobank.view_aliquot"):
        patients = Patient.objects.filter(matching("study_id")).order_by("study_id")
        results.groups.append(
            _group(
                "Patients",
                patients,
                text=text,
                code_field="study_id",
                url_name="web:patient_detail",
                url_key="study_id",
                detail=lambda patient: "consent withdrawn" if patient.withdrawn_on else "",
            )
        )
    if user.has_perm("biobank.view_aliquot"):
        tubes = (
            Aliquot.objects.filter(matching("barcode") | matching("draw__patient__study_id"))
            .select_related("draw__patient", "box")
            .order_by("barcode")
        )
        results.groups.append(
            _group(
                "Tubes",
                tubes,
                text=text,
                code_field="barcode",
                url_name="web:sample_detail",
                detail=_tube_detail,
            )
        )
    kinds = (
        ("Boxes", "biobank.view_box",
         Box.objects.select_related("rack__freezer").filter(matching("barcode") | matching("name"))
         .order_by("barcode"),
         "barcode", "web:box_detail", str),
        ("Plates", "biobank.view_qpcrplate",
         QpcrPlate.objects.filter(matching("barcode")).order_by("barcode"),
         "barcode", "web:plate_detail", lambda plate: plate.get_status_display()),
        ("RT products", "biobank.view_reversetranscription",
         ReverseTranscription.objects.filter(matching("code")).order_by("code"),
         "code", "web:rt_product_detail", lambda product: str(product.performed_on)),
        ("Extraction batches", "biobank.view_exosomeisolationbatch",
         ExosomeIsolationBatch.objects.filter(matching("code")).order_by("code"),
         "code", "web:isolation_batch_detail", lambda batch: str(batch.performed_on)),
    )  # fmt: skip
    for kind, permission, queryset, code_field, url_name, detail in kinds:
        if user.has_perm(permission):
            results.groups.append(
                _group(
                    kind,
                    queryset,
                    text=text,
                    code_field=code_field,
                    url_name=url_name,
                    detail=detail,
                )
            )
    return results
