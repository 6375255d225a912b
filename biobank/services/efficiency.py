"""The amplification efficiency each assay is quantified with, chosen by a person.

The efficiency is a decision, not a side effect of whichever curve was fitted last: a
curator picks, per assay, this run's standard curve, a pooled value over several runs'
curves, a value declared elsewhere with its source, or the 100 % default that
reproduces the paper's 2^-ΔCq (analysis.efficiency.choose_efficiency computes each).
The choice is stored with its evidence (the curves it rests on) and who made it when;
the history keeps every earlier choice.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from biobank.models import Assay, AssayEfficiency, QpcrPlate
from biobank.selectors.standard_curves import AssayCurve, standard_curves

CURVE_FIELDS = (
    "slope",
    "intercept",
    "r_squared",
    "slope_se",
    "efficiency",
    "efficiency_se",
    "n_points",
    "n_levels",
    "residual_sd",
)


def curve_evidence(item: AssayCurve) -> dict:
    """What a choice keeps of a curve: enough to check the value without the wells."""
    curve = item.curve
    return {
        "plate": item.plate,
        "plate_id": item.plate_id,
        **{name: getattr(curve, name) for name in CURVE_FIELDS},
        "linear_range": list(curve.linear_range),
        "outliers": [p["row"] for p in curve.outliers],
        "flags": list(curve.flags),
    }


def _curves(assay: Assay, plates: Sequence[QpcrPlate], *, field: str) -> list[AssayCurve]:
    """The assay's curve on each plate, in the order given; refused naming the plate
    when one has no standard wells of the assay or its curve could not be fitted."""
    found = {
        c.plate_id: c
        for c in standard_curves(plate_ids=[p.pk for p in plates], assay_ids=[assay.pk])
    }
    problems = []
    for plate in plates:
        item = found.get(plate.pk)
        if item is None:
            problems.append(f"plate {plate.barcode} has no {assay.target} standard wells")
        elif not item.ok:
            problems.append(f"plate {plate.barcode}: {item.error}")
    if problems:
        raise ValidationError({field: "; ".join(problems)})
    return [found[plate.pk] for plate in plates]


@transaction.atomic
def assay_efficiency_choose(
    *,
    assay: Assay,
    method: str,
    user,
    plate: QpcrPlate | None = None,
    plates: Sequence[QpcrPlate] | None = None,
    value: float | None = None,
    se: float | None = None,
    source: str = "",
) -> AssayEfficiency:
    """Set the efficiency `assay` is quantified with.

    - "default": 100 %, SE 0 (the paper);
    - "run": `plate`'s standard curve of the assay (E and its SE);
    - "pooled": the inverse-variance weighted mean over `plates` (at least two);
    - "declared": `value` as a fraction (0.95 = 95 %) with its `source`, `se` optional.

    Refused naming the field (method, plate, plates, value, se, source) with nothing
    changed. `source` given with a curve-based choice replaces the generated one."""
    from analysis.efficiency import EFFICIENCY_METHODS, StandardCurveError, choose_efficiency

    assay = Assay.objects.select_for_update().get(pk=assay.pk)
    if method not in EFFICIENCY_METHODS:
        raise ValidationError(
            {"method": f"Unknown method {method!r}: choose one of {', '.join(EFFICIENCY_METHODS)}"}
        )
    source = (source or "").strip()
    evidence: dict = {"curves": []}
    try:
        if method == "run":
            if plate is None:
                raise ValidationError({"plate": "Choose the run (plate) whose curve to use"})
            (item,) = _curves(assay, [plate], field="plate")
            choice = choose_efficiency("run", curve=item.curve, source=source)
            evidence["curves"] = [curve_evidence(item)]
        elif method == "pooled":
            plates = list(dict.fromkeys(plates or []))
            if len(plates) < 2:
                raise ValidationError(
                    {"plates": "A pooled efficiency needs the curves of at least two runs"}
                )
            items = _curves(assay, plates, field="plates")
            choice = choose_efficiency("pooled", curves=[i.curve for i in items], source=source)
            evidence["curves"] = [curve_evidence(i) for i in items]
        elif method == "declared":
            if value is None:
                raise ValidationError({"value": "Give the declared efficiency"})
            if not source:
                raise ValidationError({"source": "Say where the declared value comes from"})
            choice = choose_efficiency("declared", value=value, se=se or 0.0, source=source)
        else:
            choice = choose_efficiency("default")
    except StandardCurveError as error:
        raise ValidationError({_field_of(method, str(error)): str(error)}) from None
    evidence["choice"] = choice.to_dict()
    chosen, _ = AssayEfficiency.objects.update_or_create(
        assay=assay,
        defaults={
            "method": choice.method,
            "value": choice.efficiency,
            "se": choice.se,
            "source": choice.source[:300],
            "evidence": evidence,
            "chosen_by": user if getattr(user, "is_authenticated", False) else None,
            "chosen_at": timezone.now(),
        },
    )
    return chosen


def _field_of(method: str, message: str) -> str:
    """The form field a refusal of analysis.efficiency is about."""
    if method == "declared":
        if "source" in message:
            return "source"
        return "se" if " SE " in message else "value"
    return "plates" if method == "pooled" else "plate"
