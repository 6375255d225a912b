"""Replicate quality control for RT-qPCR wells.

Pure, vectorised functions over a *wells* DataFrame (one row per qPCR well). Nothing here
touches the database: the caller builds the frame, these functions decide which replicates
are usable and why, and the caller stores the decisions.

Input columns (see ``WELL_COLUMNS``)::

    well_id, plate_id, position, kind ('sample' | 'ntc' | 'calibrator'), sample_id (RT product,
    NA for NTC), patient_id, timepoint, target, role ('target' | 'spike_in'), replicate, cq
    (NaN = undetermined), manual_excluded (nullable boolean), manual_reason

The rules, in the order they are applied:

1. A Cq above ``cq_cutoff`` (or no Cq at all) is *undetermined*: the well has no usable value.
2. Replicates are grouped by ``(sample_id, target)`` (the RT product measured for one miRNA).
   The group median is taken over the determined wells a curator has not excluded, and a
   replicate further than ``max_distance`` cycles from that median is excluded, keeping the
   distance in the reason. The median (not the mean) is used so that one outlier of a
   triplicate cannot drag the reference towards itself.
3. A curator's decision (``manual_excluded`` True or False) overrides 1-2 and keeps the
   curator's reason; the automatic finding stays visible in ``auto_excluded``/``auto_reason``.
4. Groups with fewer than two accepted replicates are flagged by ``summarise_replicates``;
   an NTC (no-template control) that amplifies flags its ``(plate_id, target)``.

Distances are compared with a tolerance of 1e-9 cycles so that floating-point noise
(24.6 - 24.1 == 0.5000000000000036) does not exclude a replicate sitting exactly on the limit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "WELL_COLUMNS",
    "apply_replicate_qc",
    "summarise_replicates",
    "ntc_contamination",
]

WELL_COLUMNS = (
    "well_id",
    "plate_id",
    "position",
    "kind",
    "sample_id",
    "patient_id",
    "timepoint",
    "target",
    "role",
    "replicate",
    "cq",
)
GROUP_KEYS = ["sample_id", "target"]
_TOLERANCE = 1e-9

SOURCE_AUTO = "auto"
SOURCE_MANUAL = "manual"
FLAG_TOO_FEW = "fewer than 2 accepted replicates"


def format_numbers(values, spec: str = "%.2f") -> np.ndarray:
    """Format floats with a printf spec, vectorised through numpy, as Python strings
    (object array) so they concatenate with other text columns."""
    return np.char.mod(spec, np.asarray(values, dtype=float)).astype(object)


def _check_columns(wells: pd.DataFrame, required) -> None:
    missing = [c for c in required if c not in wells.columns]
    if missing:
        raise ValueError(f"wells frame lacks column(s): {', '.join(missing)}")


def _in_replicate_group(wells: pd.DataFrame) -> pd.Series:
    """Wells that belong to a (sample_id, target) replicate group: samples and calibrators."""
    return wells["kind"].ne("ntc") & wells["sample_id"].notna()


def _codes(values: pd.Series, *, sort: bool = False) -> tuple[np.ndarray, pd.Index]:
    """Integer codes of `values` (-1 for NA) and the distinct values they stand for."""
    codes, uniques = pd.factorize(values, sort=sort)
    return codes.astype(np.int64), pd.Index(uniques)


def _group_median(values: pd.Series, wells: pd.DataFrame) -> pd.Series:
    """The median of `values` over each (sample_id, target) group, NaN outside a group
    (either key NA). Grouped by one integer key rather than the two columns: the text
    target costs a hash of every well's string otherwise."""
    sample, _ = _codes(wells["sample_id"])
    target, targets = _codes(wells["target"])
    outside = (sample < 0) | (target < 0)
    key = np.where(outside, -1, sample * max(len(targets), 1) + target)
    values = values.where(~outside)
    return values.groupby(key, sort=False).transform("median")


def apply_replicate_qc(
    wells: pd.DataFrame, *, cq_cutoff: float = 35.0, max_distance: float = 0.5
) -> pd.DataFrame:
    """Decide for every well whether its Cq is used, and record why not.

    Returns a copy of ``wells`` with these columns added:

    - ``undetermined`` (bool): no Cq, or Cq above ``cq_cutoff``.
    - ``median_cq`` (float): the median of the well's replicate group (NaN for NTCs).
    - ``distance`` (float): absolute distance of the well's Cq from ``median_cq``.
    - ``auto_excluded`` / ``auto_reason``: what the rules alone decided.
    - ``excluded`` (bool): the final decision (a curator's decision wins).
    - ``exclusion_reason`` (str): why excluded; for a well a curator restored, the
      curator's reason for restoring it; '' otherwise.
    - ``exclusion_source``: ``'auto'``, ``'manual'`` or ``''``.

    NTC wells are never ``excluded`` here; their amplification is reported by
    :func:`ntc_contamination`.
    """
    _check_columns(wells, WELL_COLUMNS)
    # A shallow copy: every column set below is a new array, so the caller's frame is
    # left as it was without copying its columns (1.5 million wells at 50,000 patients).
    out = wells.copy(deep=False)
    n = len(out)
    cq = pd.to_numeric(out["cq"], errors="coerce").astype(float)
    out["cq"] = cq

    if "manual_excluded" in out.columns:
        manual = out["manual_excluded"].astype("boolean")
    else:
        manual = pd.Series(pd.NA, index=out.index, dtype="boolean")
    if "manual_reason" in out.columns:
        manual_reason = out["manual_reason"].astype("string")
    else:
        manual_reason = pd.Series(pd.NA, index=out.index, dtype="string")
    out["manual_excluded"] = manual
    out["manual_reason"] = manual_reason

    no_cq = cq.isna()
    above_cutoff = cq > cq_cutoff
    undetermined = no_cq | above_cutoff
    in_group = _in_replicate_group(out)
    manually_excluded = manual.fillna(False).to_numpy(dtype=bool)
    has_manual = manual.notna().to_numpy(dtype=bool)

    # The median reference uses determined wells a curator has not thrown out.
    reference = in_group & ~undetermined & ~manually_excluded
    median = _group_median(cq.where(reference), out)
    distance = (cq - median).abs()
    outlier = (reference & (distance > max_distance + _TOLERANCE)).to_numpy()

    auto_excluded = (in_group & undetermined).to_numpy() | outlier
    auto_reason = np.full(n, "", dtype=object)

    mask = (in_group & no_cq).to_numpy()
    auto_reason[mask] = "undetermined (no Cq)"
    mask = (in_group & above_cutoff).to_numpy()
    if mask.any():
        auto_reason[mask] = (
            "undetermined: Cq "
            + pd.Series(format_numbers(cq[mask], "%.2f"))
            + f" above the cut-off {cq_cutoff:.2f}"
        ).to_numpy()
    if outlier.any():
        auto_reason[outlier] = (
            "replicate "
            + out.loc[outlier, "replicate"].astype(str).reset_index(drop=True)
            + " is "
            + pd.Series(format_numbers(distance[outlier], "%.2f"))
            + " cycles from the group median "
            + pd.Series(format_numbers(median[outlier], "%.2f"))
            + f" (limit {max_distance:.2f})"
        ).to_numpy()

    excluded = np.where(has_manual, manually_excluded, auto_excluded)
    reason = auto_reason
    if has_manual.any():  # few wells carry a curator's decision: only theirs are read
        default_manual = np.where(
            manually_excluded[has_manual], "excluded by curator", "restored by curator"
        ).astype(object)
        curator_reason = manual_reason[has_manual].fillna("").str.strip().to_numpy(dtype=object)
        reason = auto_reason.copy()
        reason[has_manual] = np.where(curator_reason == "", default_manual, curator_reason)
    source = np.where(has_manual, SOURCE_MANUAL, np.where(auto_excluded, SOURCE_AUTO, ""))

    out["undetermined"] = undetermined.to_numpy()
    out["median_cq"] = median
    out["distance"] = distance
    out["auto_excluded"] = auto_excluded
    out["auto_reason"] = auto_reason
    out["excluded"] = excluded.astype(bool)
    out["exclusion_reason"] = reason.astype(object)
    out["exclusion_source"] = source.astype(object)
    return out


def ntc_contamination(qc_wells: pd.DataFrame) -> pd.DataFrame:
    """One row per ``(plate_id, target)`` that carries NTC wells.

    Columns: ``plate_id, target, cq`` (lowest determined NTC Cq, NaN if none amplified),
    ``n_ntc, n_amplified, n_manually_excluded, flag`` (``''`` or e.g.
    ``'NTC amplified (Cq 33.10)'``). An NTC well a curator excluded does not raise the flag
    (the manual decision wins) but is counted in ``n_manually_excluded`` so it stays visible.
    """
    _check_columns(qc_wells, ["plate_id", "target", "kind", "cq", "undetermined"])
    ntc = qc_wells.loc[qc_wells["kind"].eq("ntc")]
    columns = ["plate_id", "target", "cq", "n_ntc", "n_amplified", "n_manually_excluded", "flag"]
    if ntc.empty:
        return pd.DataFrame(columns=columns)
    if "manual_excluded" in ntc.columns:
        curator_out = ntc["manual_excluded"].astype("boolean").fillna(False).astype(bool)
    else:
        curator_out = pd.Series(False, index=ntc.index)
    amplified = ~ntc["undetermined"].astype(bool) & ~curator_out
    frame = pd.DataFrame(
        {
            "plate_id": ntc["plate_id"],
            "target": ntc["target"],
            "amplified_cq": ntc["cq"].where(amplified),
            "amplified": amplified,
            "curator_out": curator_out,
        }
    )
    table = (
        frame.groupby(["plate_id", "target"], sort=True)
        .agg(
            cq=("amplified_cq", "min"),
            n_ntc=("amplified", "size"),
            n_amplified=("amplified", "sum"),
            n_manually_excluded=("curator_out", "sum"),
        )
        .reset_index()
    )
    table["flag"] = ""
    hit = table["n_amplified"] > 0
    if hit.any():
        table.loc[hit, "flag"] = (
            "NTC amplified (Cq "
            + pd.Series(format_numbers(table.loc[hit, "cq"], "%.2f"), index=table.index[hit])
            + ")"
        )
    return table[columns]


def summarise_replicates(
    qc_wells: pd.DataFrame, *, ntc: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Collapse QC'd wells to one row per ``(sample_id, target)`` replicate group.

    Columns: ``sample_id, target, patient_id, timepoint, role, kind, mean_cq, sd_cq``
    (over accepted replicates, SD with ddof=1, NaN with fewer than two), ``n_wells,
    n_accepted, n_undetermined, n_excluded, ntc_contaminated`` (a well of the group sits on a
    plate whose NTC for this target amplified), ``flag`` ('' or '; '-joined messages such as
    ``'fewer than 2 accepted replicates (1 of 3)'``).

    A replicate is *accepted* when it is not excluded and has a numeric Cq. The mean is
    still given for a group with one accepted replicate (flagged), and is NaN with none.
    `ntc` is ``ntc_contamination(qc_wells)`` when the caller has it already.
    """
    _check_columns(qc_wells, [*WELL_COLUMNS, "excluded", "undetermined"])
    in_group = _in_replicate_group(qc_wells)
    # Only the columns read below: the QC'd wells frame has some thirty.
    wells = qc_wells.loc[
        in_group,
        ["sample_id", "target", "patient_id", "timepoint", "role", "kind", "plate_id", "cq",
         "excluded", "undetermined"],
    ].copy(deep=False)  # fmt: skip
    accepted_cq = wells["cq"].where(~wells["excluded"].astype(bool))

    contaminated_pairs = ntc if ntc is not None else ntc_contamination(qc_wells)
    contaminated_pairs = contaminated_pairs.loc[
        contaminated_pairs["n_amplified"] > 0, ["plate_id", "target"]
    ]
    if contaminated_pairs.empty:
        on_dirty_plate = pd.Series(False, index=wells.index)
    else:
        dirty = pd.MultiIndex.from_frame(contaminated_pairs)
        # Only wells on a plate with an amplified NTC can match a (plate, assay) pair.
        candidate = wells["plate_id"].isin(contaminated_pairs["plate_id"]).to_numpy()
        matched = np.zeros(len(wells), dtype=bool)
        if candidate.any():
            pairs = wells.loc[candidate, ["plate_id", "target"]]
            matched[candidate] = pd.MultiIndex.from_frame(pairs).isin(dirty)
        on_dirty_plate = pd.Series(matched, index=wells.index)

    # The selection above is this function's own: its columns are set in place
    # rather than copied into another frame.
    wells["accepted_cq"] = accepted_cq
    wells["undetermined"] = wells["undetermined"].astype(bool)
    wells["excluded"] = wells["excluded"].astype(bool)
    wells["dirty"] = on_dirty_plate
    summary = _summarise_groups(wells)
    ids = summary["sample_id"]
    if pd.api.types.is_float_dtype(ids) and bool((ids.dropna() % 1 == 0).all()):
        # NTC rows (sample_id NA) made the column float; RT-product ids are integers.
        summary["sample_id"] = summary["sample_id"].astype("Int64")

    flag = pd.Series("", index=summary.index, dtype=object)
    too_few = summary["n_accepted"] < 2
    if too_few.any():
        flag[too_few] = (
            f"{FLAG_TOO_FEW} ("
            + summary.loc[too_few, "n_accepted"].astype(str)
            + " of "
            + summary.loc[too_few, "n_wells"].astype(str)
            + ")"
        )
    dirty = summary["ntc_contaminated"].astype(bool)
    if dirty.any():
        sep = np.where(flag[dirty] == "", "", "; ")
        flag[dirty] = flag[dirty] + sep + "NTC amplified on the plate"
    summary["flag"] = flag
    return summary


_GROUP_AGGREGATES = {
    "patient_id": ("patient_id", "first"),
    "timepoint": ("timepoint", "first"),
    "role": ("role", "first"),
    "kind": ("kind", "first"),
    "mean_cq": ("accepted_cq", "mean"),
    "sd_cq": ("accepted_cq", "std"),
    "n_wells": ("accepted_cq", "size"),
    "n_accepted": ("accepted_cq", "count"),
    "n_undetermined": ("undetermined", "sum"),
    "n_excluded": ("excluded", "sum"),
    "ntc_contaminated": ("dirty", "any"),
}
_FIRST_OF_GROUP = ("patient_id", "timepoint", "role", "kind")


def _summarise_groups(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame.groupby(GROUP_KEYS, sort=True).agg(**_GROUP_AGGREGATES).reset_index()``,
    grouped by one integer key made of the two keys' sorted codes: the same groups in
    the same order, without hashing the text target of every well. A text column with
    no NA takes its group's first row (what "first" gives), without aggregating text."""
    sample, samples = _codes(frame["sample_id"], sort=True)
    target, targets = _codes(frame["target"], sort=True)
    if not len(frame) or (sample < 0).any() or (target < 0).any():
        return frame.groupby(GROUP_KEYS, sort=True).agg(**_GROUP_AGGREGATES).reset_index()
    key = sample * len(targets) + target
    groups, first_row, group = np.unique(key, return_index=True, return_inverse=True)
    columns = {
        "sample_id": samples.take(groups // len(targets)).array,
        "target": targets.take(groups % len(targets)).array,
    }
    for name in _FIRST_OF_GROUP:
        values = frame[name]
        if values.notna().all():
            columns[name] = values.to_numpy()[first_row]
        else:
            columns[name] = values.groupby(group, sort=True).first().to_numpy()
    numbers = {k: v for k, v in _GROUP_AGGREGATES.items() if k not in _FIRST_OF_GROUP}
    table = frame[["accepted_cq", "undetermined", "excluded", "dirty"]].groupby(group, sort=True)
    table = table.agg(**numbers).reset_index(drop=True)
    return pd.concat([pd.DataFrame(columns), table], axis=1)
