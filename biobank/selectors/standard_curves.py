"""Standard curves of the plates' dilution-series wells, fitted by analysis.efficiency.

A plate's standard wells (kind "standard", each with its known quantity) give each
assay's amplification efficiency for that run. The fit itself (linear range, outliers,
E and its SE) is analysis.efficiency's; here the wells are read (one query) and handed
to it, and what it cannot use is said per well: a standard without a quantity, a well a
curator excluded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from biobank.models import Well, position_label


@dataclass(frozen=True)
class AssayCurve:
    """One assay's standard curve on one plate, or why it has none."""

    plate_id: int
    plate: str
    assay_id: int
    target: str
    curve: object | None  # analysis.efficiency.StandardCurve
    error: str = ""
    wells: tuple[dict, ...] = field(default=(), repr=False)  # each with position and reason
    left_out: tuple[str, ...] = ()  # wells not handed to the fit, each with why

    @property
    def ok(self) -> bool:
        return self.curve is not None

    @property
    def efficiency_text(self) -> str:
        """'94.1 % ± 1.2 %' (a page's cell); '' without a curve."""
        if self.curve is None:
            return ""
        return f"{self.curve.efficiency:.1%} ± {self.curve.efficiency_se:.1%}".replace("%", " %")


def standard_wells(*, plate_ids=None, assay_ids=None) -> list[dict]:
    """The standard wells (one query), in plate, assay and position order."""
    wells = Well.objects.filter(kind=Well.Kind.STANDARD)
    if plate_ids is not None:
        wells = wells.filter(plate_id__in=list(plate_ids))
    if assay_ids is not None:
        wells = wells.filter(assay_id__in=list(assay_ids))
    rows = wells.order_by("plate_id", "assay__target", "row", "column").values(
        "id",
        "plate_id",
        "plate__barcode",
        "assay_id",
        "assay__target",
        "row",
        "column",
        "replicate",
        "quantity",
        "quantity_unit",
        "cq",
        "excluded",
        "exclusion_reason",
    )
    return [
        {
            "well_id": row["id"],
            "plate_id": row["plate_id"],
            "plate": row["plate__barcode"],
            "assay_id": row["assay_id"],
            "target": row["assay__target"],
            "position": position_label(row["row"], row["column"]),
            "replicate": row["replicate"],
            "quantity": row["quantity"],
            "unit": row["quantity_unit"],
            "cq": row["cq"],
            "excluded": row["excluded"],
            "exclusion_reason": row["exclusion_reason"],
        }
        for row in rows
    ]


def standard_curves(*, plate_ids=None, assay_ids=None) -> list[AssayCurve]:
    """Every (plate, assay) with standard wells, fitted: one query, in plate then
    assay order. A well without a quantity or excluded by a curator is left out of the
    fit and listed; the rest go to analysis.efficiency.standard_curve as they are
    (undetermined wells included: its linear-range rule needs them)."""
    from analysis.efficiency import StandardCurveError, standard_curve

    groups: dict[tuple[int, int], list[dict]] = {}
    for well in standard_wells(plate_ids=plate_ids, assay_ids=assay_ids):
        groups.setdefault((well["plate_id"], well["assay_id"]), []).append(well)
    out = []
    for (plate_id, assay_id), wells in groups.items():
        used, left_out = [], []
        for well in wells:
            if well["quantity"] is None:
                left_out.append(f"{well['position']}: no quantity")
            elif well["excluded"]:
                left_out.append(f"{well['position']}: excluded ({well['exclusion_reason']})")
            else:
                used.append(well)
        curve, error, points = None, "", []
        try:
            curve = standard_curve(
                [w["quantity"] for w in used],
                [math.nan if w["cq"] is None else w["cq"] for w in used],
            )
            points = [
                {**well, "used": point["used"], "reason": point["reason"]}
                for well, point in zip(used, curve.points, strict=True)
            ]
        except StandardCurveError as exc:
            error = str(exc)
            points = [{**well, "used": False, "reason": ""} for well in used]
        out.append(
            AssayCurve(
                plate_id=plate_id,
                plate=wells[0]["plate"],
                assay_id=assay_id,
                target=wells[0]["target"],
                curve=curve,
                error=error,
                wells=tuple(points),
                left_out=tuple(left_out),
            )
        )
    return out
