"""Registering serum draws."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from biobank.models import SerumDraw, Treatment

from .common import save_validated


def post_draw_window() -> tuple[int, int]:
    return tuple(settings.EXOTRACK["POST_DRAW_WINDOW_DAYS"])


def days_after(treatment: Treatment, moment: dt.datetime) -> int:
    local_day = timezone.localtime(moment).date() if timezone.is_aware(moment) else moment.date()
    return (local_day - treatment.performed_on).days


def check_draw_timing(*, treatment: Treatment, timepoint: str, drawn_at: dt.datetime) -> int:
    """Refuse a PRE after its TACE or a POST before it; return the day offset."""
    offset = days_after(treatment, drawn_at)
    if timepoint == SerumDraw.Timepoint.POST and offset <= 0:
        raise ValidationError(
            {"drawn_at": f"A POST draw must be after the TACE of {treatment.performed_on}"}
        )
    if timepoint == SerumDraw.Timepoint.PRE and offset > 0:
        raise ValidationError(
            {"drawn_at": f"A PRE draw must be on or before the TACE of {treatment.performed_on}"}
        )
    return offset


def is_outside_window(timepoint: str, offset: int) -> bool:
    low, high = post_draw_window()
    return timepoint == SerumDraw.Timepoint.POST and not (low <= offset <= high)


def check_a414(a414: float | None) -> None:
    """An absorbance is never negative (a blank read after the sample, or a sign typo);
    refuse it by name rather than let a 'clean' -0.3 into the haemolysis QC."""
    if a414 is None:
        return
    if isinstance(a414, bool) or not isinstance(a414, (int, float)) or not math.isfinite(a414):
        raise ValidationError({"a414": f"A414 must be a finite number, not {a414!r}"})
    if a414 < 0:
        raise ValidationError({"a414": f"A414 cannot be negative (got {a414:g})"})


def derive_draw_timing(draw: SerumDraw) -> SerumDraw:
    """Fill what follows from the treatment and the draw time (patient, day offset,
    window flag), refusing a PRE after or a POST before its TACE. Every path that
    saves a draw (the services, the admin) derives them here."""
    offset = check_draw_timing(
        treatment=draw.treatment, timepoint=draw.timepoint, drawn_at=draw.drawn_at
    )
    draw.patient = draw.treatment.patient
    draw.days_after_treatment = offset
    draw.outside_window = is_outside_window(draw.timepoint, offset)
    return draw


@transaction.atomic
def serum_draw_register(
    *,
    treatment: Treatment,
    timepoint: str,
    drawn_at: dt.datetime,
    serum_volume_ul: Decimal | float | int,
    centrifuged_at: dt.datetime | None = None,
    frozen_at: dt.datetime | None = None,
    haemolysis: str = SerumDraw.Haemolysis.NONE,
    a414: float | None = None,
    held_cold: bool = False,
    container: str = SerumDraw.Container.SST,
    note: str = "",
) -> SerumDraw:
    """Register the PRE or POST draw of a treatment (one of each). A POST draw outside
    the 5-10 day window is accepted and flagged, for the curator to judge."""
    if timepoint not in SerumDraw.Timepoint.values:
        raise ValidationError({"timepoint": f"Timepoint must be PRE or POST, not {timepoint!r}"})
    if SerumDraw.objects.filter(treatment=treatment, timepoint=timepoint).exists():
        raise ValidationError(
            {
                "timepoint": f"{treatment.patient.study_id} already has a {timepoint} draw for this TACE"
            }
        )
    if centrifuged_at and centrifuged_at < drawn_at:
        raise ValidationError({"centrifuged_at": "Centrifugation cannot precede the draw"})
    if frozen_at and centrifuged_at and frozen_at < centrifuged_at:
        raise ValidationError({"frozen_at": "Freezing cannot precede centrifugation"})
    check_a414(a414)
    draw = SerumDraw(
        treatment=treatment,
        timepoint=timepoint,
        drawn_at=drawn_at,
        centrifuged_at=centrifuged_at,
        frozen_at=frozen_at,
        serum_volume_ul=Decimal(str(serum_volume_ul)),
        haemolysis=haemolysis,
        a414=a414,
        held_cold=held_cold,
        container=container,
        note=note,
    )
    return save_validated(derive_draw_timing(draw))


def check_draw_volume(*, draw: SerumDraw, serum_volume_ul) -> None:
    """A draw never holds less serum than was cut from it: refuse a volume below the
    sum of its aliquots' initial volumes. The rule spans two tables, so no CHECK
    constraint can hold it; the draw's row lock (taken here by serum_draw_update and
    by aliquots_create) makes the two take turns."""
    aliquoted = draw.aliquots.aggregate(total=Sum("initial_volume_ul"))["total"] or Decimal(0)
    volume = Decimal(str(serum_volume_ul))
    if volume < aliquoted:
        raise ValidationError(
            {
                "serum_volume_ul": f"{aliquoted:.1f} µl of draw {draw} are already in "
                f"aliquots; its volume cannot be {volume:.1f} µl"
            }
        )


@transaction.atomic
def serum_draw_update(*, draw: SerumDraw, **values) -> SerumDraw:
    """Correct a draw's times or details; the timing rules and the window flag follow,
    and the volume stays at least what its aliquots took."""
    draw = SerumDraw.objects.select_for_update().get(pk=draw.pk)
    for name, value in values.items():
        if name in {"patient", "days_after_treatment", "outside_window"}:
            raise ValidationError({name: "This field is derived and cannot be set"})
        if name == "a414":
            check_a414(value)
        setattr(draw, name, value)
    if values.get("serum_volume_ul") is not None:
        check_draw_volume(draw=draw, serum_volume_ul=draw.serum_volume_ul)
    return save_validated(derive_draw_timing(draw))
