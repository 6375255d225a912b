"""Extraction batches for the bench: the batch, the tubes it took serum from, and how
far along the chain (RNA, RT, plate) each of its samples is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Count, Prefetch

from biobank.models import (
    Aliquot,
    Assay,
    ExosomeIsolation,
    ExosomeIsolationBatch,
    ReverseTranscription,
    RnaIsolation,
    Well,
)
from biobank.selectors.scans import in_scan_order


def recent_isolation_batches(limit: int = 10):
    return ExosomeIsolationBatch.objects.select_related("operator").order_by(
        "-performed_on", "-pk"
    )[:limit]


# ------------------------------------------------------- RNA and RT on the bench


@dataclass(frozen=True)
class ChainRow:
    """One sample of a batch and how far along the chain it is: its exosome isolation,
    its RNA (or None) and the RT products of that RNA (each with `n_wells`)."""

    isolation: ExosomeIsolation
    rna: RnaIsolation | None
    products: list[ReverseTranscription]

    @property
    def barcode(self) -> str:
        return self.isolation.aliquot.barcode

    @property
    def key(self) -> int:
        """What a form row is named by: the exosome isolation's pk."""
        return self.isolation.pk

    @property
    def stage(self) -> str:
        if self.rna is None:
            return "exosomes"
        if not self.products:
            return "RNA"
        if any(product.n_wells for product in self.products):
            return "on a plate"
        return "cDNA"


@dataclass(frozen=True)
class BatchChain:
    batch: ExosomeIsolationBatch | None  # None: tubes scanned by hand
    rows: list[ChainRow]

    @property
    def awaiting_rna(self) -> list[ChainRow]:
        return [row for row in self.rows if row.rna is None]

    @property
    def awaiting_rt(self) -> list[ChainRow]:
        return [row for row in self.rows if row.rna is not None and not row.products]

    @property
    def products(self) -> list[ReverseTranscription]:
        return [product for row in self.rows for product in row.products]

    @property
    def unplated(self) -> list[ReverseTranscription]:
        return [product for product in self.products if not product.n_wells]

    @property
    def next_step(self) -> str:
        """'rna', 'rt', 'plate' or 'done': what the bench does next with this batch.
        RNA first (a batch is isolated together), then RT, then a plate."""
        if self.awaiting_rna:
            return "rna"
        if self.awaiting_rt:
            return "rt"
        if self.unplated:
            return "plate"
        return "done"


def _chain_isolations():
    products = ReverseTranscription.objects.annotate(n_wells=Count("wells")).order_by("code")
    return ExosomeIsolation.objects.select_related(
        "batch", "aliquot__draw__patient", "rna__operator"
    ).prefetch_related(Prefetch("rna__reverse_transcriptions", queryset=products))


def _row(isolation: ExosomeIsolation) -> ChainRow:
    rna = getattr(isolation, "rna", None)  # a missing reverse one-to-one raises
    return ChainRow(isolation, rna, list(rna.reverse_transcriptions.all()) if rna else [])


def batch_chain(batch_id: int) -> BatchChain | None:
    """A batch with every sample's place in the chain, in three queries whatever its size."""
    batch = ExosomeIsolationBatch.objects.select_related("operator").filter(pk=batch_id).first()
    if batch is None:
        return None
    isolations = _chain_isolations().filter(batch=batch).order_by("aliquot__barcode")
    return BatchChain(batch, [_row(isolation) for isolation in isolations])


def scanned_chain(barcodes: Sequence[str], *, step: str) -> tuple[BatchChain, list[str]]:
    """The samples of tubes scanned by hand, in the order scanned, and what is wrong
    with the scan (a barcode no tube has, a tube never extracted, for `step` 'rt' a
    tube whose RNA was not isolated yet).

    A tube may have gone into several ExoQuick batches; for 'rna' the first of its
    isolations still without RNA is taken (else its last, so the service can say it
    is done), for 'rt' its last isolation with RNA.
    """
    wanted = list(dict.fromkeys(barcodes))
    found = {aliquot.barcode: aliquot for aliquot in Aliquot.objects.filter(barcode__in=wanted)}
    by_aliquot: dict[int, list[ExosomeIsolation]] = {}
    for isolation in (
        _chain_isolations().filter(aliquot__in=found.values()).order_by("batch__performed_on", "pk")
    ):
        by_aliquot.setdefault(isolation.aliquot_id, []).append(isolation)
    rows, problems = [], []
    for barcode in wanted:
        aliquot = found.get(barcode)
        if aliquot is None:
            problems.append(f"No aliquot has the barcode {barcode}")
            continue
        isolations = [_row(isolation) for isolation in by_aliquot.get(aliquot.pk, [])]
        if not isolations:
            problems.append(f"{barcode} went into no extraction batch")
        elif step == "rna":
            rows.append(next((row for row in isolations if row.rna is None), isolations[-1]))
        else:
            isolated = [row for row in isolations if row.rna is not None]
            if isolated:
                rows.append(isolated[-1])
            else:
                problems.append(f"{barcode} has no RNA isolated yet")
    return BatchChain(None, rows), problems


# ------------------------------------------------------------------ RT products


@dataclass(frozen=True)
class RtLineage:
    """An RT product and everything it came from, back to the draw and the patient's
    study id (never the identity), and the plate wells it is in."""

    product: ReverseTranscription
    wells: list[Well]

    @property
    def rna(self) -> RnaIsolation:
        return self.product.rna

    @property
    def isolation(self) -> ExosomeIsolation:
        return self.product.rna.isolation

    @property
    def aliquot(self) -> Aliquot:
        return self.product.rna.isolation.aliquot

    @property
    def draw(self):
        return self.product.rna.isolation.aliquot.draw


def _products():
    return ReverseTranscription.objects.select_related(
        "operator",
        "rna__operator",
        "rna__isolation__batch",
        "rna__isolation__aliquot__draw__patient",
        "rna__isolation__aliquot__draw__treatment",
    ).prefetch_related(Prefetch("assays", queryset=Assay.objects.order_by("role", "target")))


def rt_lineage(product_id: int) -> RtLineage | None:
    """Three queries: the product with its chain, its primers, its wells."""
    product = _products().filter(pk=product_id).first()
    if product is None:
        return None
    wells = list(
        Well.objects.filter(sample=product)
        .select_related("plate", "assay")
        .order_by("plate__created_at", "plate_id", "row", "column", "assay__target")
    )
    return RtLineage(product, wells)


def rt_products_for_labels(codes: Sequence[str]) -> tuple[list[ReverseTranscription], list[str]]:
    """RT products in the order asked for, with what a label prints, and unknown codes."""
    return in_scan_order(_products(), "code", dict.fromkeys(codes))
