"""The QC's thresholds, in a module of their own: the bench's pages (retrieval
eligibility) read the same values as the QC flags without loading pandas or numpy,
which analysis.flags needs for everything else."""

from __future__ import annotations

from dataclasses import dataclass, fields

DEFAULT_SPIKE_IN = "cel-miR-39-3p"


@dataclass(frozen=True)
class QcThresholds:
    cq_cutoff: float = 35.0
    replicate_sd_limit: float = 0.5
    ntc_min_gap: float = 5.0
    spike_in_z_limit: float = 3.5
    spike_in_min_mad: float = 0.1
    spike_in_min_batch: int = 5
    haemolysis_borderline: float = 5.0
    haemolysis_high: float = 7.0
    haemolysis_targets: tuple[str, str] = ("hsa-miR-23a-3p", "hsa-miR-451a")
    a414_limit: float = 0.2
    freeze_thaw_limit: int = 1
    centrifugation_delay_minutes: float = 240.0
    freezing_delay_minutes: float = 120.0
    spike_in_target: str = DEFAULT_SPIKE_IN

    @classmethod
    def from_settings(cls, options: dict | None) -> QcThresholds:
        """Thresholds from a settings dict; unknown keys are refused by name."""
        options = dict(options or {})
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - names)
        if unknown:
            raise ValueError(f"unknown QC setting(s): {', '.join(unknown)}")
        if "haemolysis_targets" in options:
            options["haemolysis_targets"] = tuple(options["haemolysis_targets"])
        return cls(**options)
