"""What an assay's efficiency page shows: the stored choice and every run's curve."""

from __future__ import annotations

from dataclasses import dataclass

from biobank.models import Assay, AssayEfficiency

from .standard_curves import AssayCurve, standard_curves


@dataclass(frozen=True)
class AssayEfficiencyView:
    assay: Assay
    chosen: AssayEfficiency | None  # None: the default (100 %) applies
    curves: list[AssayCurve]  # one per plate with standard wells of the assay

    @property
    def fitted(self) -> list[AssayCurve]:
        return [curve for curve in self.curves if curve.ok]


def assay_efficiency_view(assay: Assay) -> AssayEfficiencyView:
    """Two queries: the choice (with who chose), the assay's standard wells."""
    chosen = AssayEfficiency.objects.select_related("chosen_by").filter(assay=assay).first()
    return AssayEfficiencyView(
        assay=assay, chosen=chosen, curves=standard_curves(assay_ids=[assay.pk])
    )


def efficiencies_by_target() -> dict[str, AssayEfficiency]:
    """Every stored choice by assay target (one query); a target absent uses 100 %."""
    return {
        choice.assay.target: choice for choice in AssayEfficiency.objects.select_related("assay")
    }
