"""QC flags on every measurement (pure: pandas in, pandas out; no ORM).

A *measurement* is one RT product measured for one miRNA (``sample_id`` x ``target``),
which is one patient x timepoint x miRNA. Each gets a status, ``pass`` / ``warn`` /
``fail``, with every reason and the rule that gave it, from what ExoTrack holds:

=====================  ======  =====================================================
rule                   status  when
=====================  ======  =====================================================
``value``              fail    no ΔCq could be computed (the normalisation's reason)
``replicates``         fail    no accepted replicate (undetermined, above the cut-off,
                               excluded) of the miRNA or of the spike-in
``replicates``         warn    the mean rests on one replicate; or the accepted
                               replicates' SD is above ``replicate_sd_limit``
``ntc``                fail    the no-template control of the same plate and assay
                               amplified less than ``ntc_min_gap`` cycles after the
                               sample (or before it)
``ntc``                warn    it amplified, but at least ``ntc_min_gap`` cycles later
``spike_in``           fail    the cel-miR-39 Cq is an outlier of its extraction batch
                               (modified z above ``spike_in_z_limit``)
``haemolysis_index``   fail    ΔCq(miR-23a-3p − miR-451a) of the draw above
                               ``haemolysis_high``; warn from ``haemolysis_borderline``
``haemolysis_a414``    fail    the draw's A414 above ``a414_limit``
``haemolysis_grade``   fail    graded moderate or gross at the draw; warn for slight
``freeze_thaw``        warn    the tube was thawed more than ``freeze_thaw_limit`` times
``centrifugation_delay`` warn  draw to centrifugation longer than the limit
``freezing_delay``     warn    centrifugation to the freezer longer than the limit
``excursion``          warn    the tube sat in a freezer during a temperature excursion
                               (the message says its minutes inside and the peak)
=====================  ======  =====================================================

Findings about the spike-in of an RT product, its draw or its tube apply to every miRNA
measured on that RT product. The defaults, and where they come from:

- ``ntc_min_gap`` 5 cycles: a contaminant 5 cycles later is ~3 % of the signal
  (2^-5); MIQE (Bustin et al., Clin Chem 2009;55:611) asks for NTCs and their Cq.
- ``spike_in_z_limit`` 3.5: the modified z-score of Iglewicz & Hoaglin (1993,
  "How to detect and handle outliers"), 0.6745 (x − median) / MAD, with MAD floored
  at ``spike_in_min_mad`` cycles so that a batch of near-identical values does not
  turn a 0.2-cycle difference into an outlier.
- ``haemolysis_borderline`` 5 and ``haemolysis_high`` 7: Blondal et al., Methods
  2013;59:S1-6 (ΔCq miR-23a − miR-451a above 7: high risk of haemolysis).
- ``a414_limit`` 0.2: Kirschner et al., PLoS One 2011;6:e24145.
- the pre-analytical limits (one thaw, 4 h to centrifugation, 2 h to the freezer) are
  lab policy; the delays are what SPREC codes (Betsou et al., CEBP 2010;19:1004).
Every one is a setting (``EXOTRACK["QC"]``, docs/qc.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .normalise import _prefixes
from .qc import format_numbers
from .thresholds import QcThresholds

PASS, WARN, FAIL = "pass", "warn", "fail"
SEVERITY = {PASS: 0, WARN: 1, FAIL: 2}
STATUS_BY_SEVERITY = {v: k for k, v in SEVERITY.items()}
FINDING_COLUMNS = ["sample_id", "target", "rule", "status", "reason"]
# A run's stored evidence lists every RT product and draw up to this many; beyond, only
# the outliers and flagged draws (the cohort's QC columns still carry every status).
EVIDENCE_ROWS = 2000


def _findings(sample_id, target, rule: str, status, reason) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "sample_id": pd.array(sample_id, dtype="Int64"),
            "target": pd.array(target, dtype=object),
            "rule": rule,
            "status": status,
            "reason": reason,
        }
    )
    return frame[FINDING_COLUMNS]


def _empty() -> pd.DataFrame:
    return _findings([], [], "", [], [])


# ----------------------------------------------------------------------------- rules


def replicate_findings(replicates: pd.DataFrame, t: QcThresholds) -> pd.DataFrame:
    """From analysis.qc.summarise_replicates: too few accepted replicates, wide spread."""
    groups = replicates.loc[replicates["kind"].eq("sample") & replicates["sample_id"].notna()]
    n_acc, n_wells = groups["n_accepted"].to_numpy(), groups["n_wells"].to_numpy()
    none = n_acc == 0
    one = n_acc == 1
    wide = (groups["sd_cq"] > t.replicate_sd_limit + 1e-9).to_numpy()
    label = groups["target"].to_numpy(dtype=object)
    parts = []
    if none.any():
        g = groups.loc[none]
        reason = (
            label[none]
            + ": no accepted replicate ("
            + g["n_undetermined"].astype(int).astype(str).to_numpy(object)
            + " of "
            + g["n_wells"].astype(int).astype(str).to_numpy(object)
            + f" undetermined or above Cq {t.cq_cutoff:g}, the rest excluded)"
        )
        parts.append(_findings(g["sample_id"], g["target"], "replicates", FAIL, reason))
    if one.any():
        g = groups.loc[one]
        reason = (
            label[one]
            + ": the mean rests on one replicate (1 of "
            + pd.Series(n_wells[one]).astype(int).astype(str).to_numpy(object)
            + ")"
        )
        parts.append(_findings(g["sample_id"], g["target"], "replicates", WARN, reason))
    if wide.any():
        g = groups.loc[wide]
        reason = (
            label[wide]
            + ": replicate SD "
            + format_numbers(g["sd_cq"])
            + f" above {t.replicate_sd_limit:.2f} cycles"
        )
        parts.append(_findings(g["sample_id"], g["target"], "replicates", WARN, reason))
    return pd.concat(parts, ignore_index=True) if parts else _empty()


def ntc_findings(
    qc_wells: pd.DataFrame, replicates: pd.DataFrame, ntc: pd.DataFrame, t: QcThresholds
) -> pd.DataFrame:
    """A group measured on a plate whose NTC for the same assay amplified.

    Fail when the NTC came up less than ``ntc_min_gap`` cycles after the sample's mean
    Cq (or before it): the contaminant may be a large share of the signal."""
    amplified = ntc.loc[ntc["n_amplified"] > 0, ["plate_id", "target", "cq"]]
    if amplified.empty:
        return _empty()
    # Only the plates whose NTC amplified matter: filter before any other work.
    on_dirty = qc_wells["plate_id"].isin(amplified["plate_id"].unique())
    qc_wells = qc_wells.loc[on_dirty]
    in_group = qc_wells["kind"].ne("ntc") & qc_wells["sample_id"].notna()
    columns = ["sample_id", "target", "plate_id"]
    if "plate" in qc_wells.columns:
        columns.append("plate")
    on_plates = qc_wells.loc[in_group, columns].drop_duplicates(["sample_id", "target", "plate_id"])
    hit = on_plates.merge(amplified.rename(columns={"cq": "ntc_cq"}), on=["plate_id", "target"])
    hit = hit.merge(
        replicates[["sample_id", "target", "mean_cq", "kind"]], on=["sample_id", "target"]
    )
    hit = hit.loc[hit["kind"].eq("sample")]
    if hit.empty:
        return _empty()
    gap = (hit["ntc_cq"] - hit["mean_cq"]).to_numpy(dtype=float)
    close = ~(gap >= t.ntc_min_gap)  # NaN (no sample mean) counts as close
    plate = hit["plate"] if "plate" in hit.columns else hit["plate_id"]
    where = np.where(
        np.isnan(gap),
        "",
        np.where(
            gap >= 0,
            ", " + format_numbers(gap) + " cycles after the sample",
            ", " + format_numbers(-gap) + " cycles before the sample",
        ),
    )
    reason = (
        hit["target"].to_numpy(object)
        + ": NTC amplified on plate "
        + plate.astype(str).to_numpy(object)
        + " (Cq "
        + format_numbers(hit["ntc_cq"])
        + where
        + ")"
    )
    return _findings(hit["sample_id"], hit["target"], "ntc", np.where(close, FAIL, WARN), reason)


def spike_in_table(
    replicates: pd.DataFrame, products: pd.DataFrame, t: QcThresholds
) -> pd.DataFrame:
    """The spike-in's mean Cq per RT product with its batch's median, MAD and modified z.

    Columns: sample_id, batch, cq, batch_median, batch_mad, z, outlier, n_batch."""
    spike = replicates.loc[
        replicates["target"].eq(t.spike_in_target) & replicates["kind"].eq("sample"),
        ["sample_id", "mean_cq"],
    ].rename(columns={"mean_cq": "cq"})
    table = spike.merge(products[["sample_id", "batch"]], on="sample_id", how="inner")
    if table.empty:
        return table.assign(batch_median=[], batch_mad=[], z=[], outlier=[], n_batch=[])
    by_batch = table.groupby("batch", sort=False)["cq"]
    table["batch_median"] = by_batch.transform("median")
    table["batch_mad"] = (
        (table["cq"] - table["batch_median"])
        .abs()
        .groupby(table["batch"], sort=False)
        .transform("median")
    )
    table["n_batch"] = by_batch.transform("count")
    mad = np.maximum(table["batch_mad"].to_numpy(dtype=float), t.spike_in_min_mad)
    z = 0.6745 * (table["cq"].to_numpy(dtype=float) - table["batch_median"].to_numpy()) / mad
    judged = table["n_batch"].to_numpy() >= t.spike_in_min_batch
    table["z"] = np.where(judged, z, np.nan)
    table["outlier"] = judged & (np.abs(z) > t.spike_in_z_limit)
    return table


def spike_in_findings(spike: pd.DataFrame, t: QcThresholds) -> pd.DataFrame:
    out = spike.loc[spike["outlier"]]
    if out.empty:
        return _empty()
    distance = out["cq"] - out["batch_median"]
    reason = (
        f"{t.spike_in_target}: Cq "
        + format_numbers(out["cq"])
        + " is "
        + format_numbers(distance.abs())
        + np.where(distance > 0, " cycles above", " cycles below").astype(object)
        + " its extraction batch "
        + out["batch"].astype(str).to_numpy(object)
        + " (median "
        + format_numbers(out["batch_median"])
        + ", modified z "
        + format_numbers(out["z"], "%.1f")
        + f", limit {t.spike_in_z_limit:g}): isolation or RT may have failed"
    )
    return _findings(out["sample_id"], [None] * len(out), "spike_in", FAIL, reason)


def haemolysis_table(
    replicates: pd.DataFrame, products: pd.DataFrame, t: QcThresholds
) -> pd.DataFrame:
    """One row per draw: the haemolysis index (mean over its RT products of
    Cq(miR-23a-3p) − Cq(miR-451a); NaN unless both were measured), A414 and grade.

    Columns: draw_id, patient_id, timepoint, index, a414, grade, status, reason."""
    first, second = t.haemolysis_targets
    wanted = replicates.loc[
        replicates["target"].isin([first, second]) & replicates["kind"].eq("sample"),
        ["sample_id", "target", "mean_cq"],
    ]
    wide = wanted.pivot_table(index="sample_id", columns="target", values="mean_cq")
    per_product = pd.Series(np.nan, index=wide.index, dtype=float)
    if first in wide.columns and second in wide.columns:
        per_product = wide[first] - wide[second]
    draws = products[["sample_id", "draw_id", "patient_id", "timepoint"]].copy()
    draws["index"] = draws["sample_id"].map(per_product).astype(float)
    draws["a414"] = products["a414"].astype(float) if "a414" in products else np.nan
    draws["grade"] = products.get("haemolysis", pd.NA)
    table = (
        draws.groupby("draw_id", sort=True)
        .agg(
            patient_id=("patient_id", "first"),
            timepoint=("timepoint", "first"),
            index=("index", "mean"),
            a414=("a414", "first"),
            grade=("grade", "first"),
        )
        .reset_index()
    )
    index = table["index"].to_numpy(dtype=float)
    status = np.where(
        index > t.haemolysis_high, FAIL, np.where(index >= t.haemolysis_borderline, WARN, PASS)
    ).astype(object)
    status[np.isnan(index)] = ""
    table["status"] = status
    return table


def _moments(values: pd.Series) -> pd.Series:
    """Datetimes as they are (already parsed by the selector), else parsed."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    return pd.to_datetime(values)


def draw_findings(products: pd.DataFrame, haemolysis: pd.DataFrame, t: QcThresholds):
    """Haemolysis and pre-analytical findings, each applied to the draw's RT products."""
    parts = []
    by_draw = products[["sample_id", "draw_id"]]

    def add(rows: pd.DataFrame, rule: str, status, reason, on="draw_id"):
        if len(rows):
            keyed = rows.assign(_status=status, _reason=reason)
            if on == "draw_id":
                keyed = by_draw.merge(keyed[["draw_id", "_status", "_reason"]], on="draw_id")
            parts.append(
                _findings(keyed["sample_id"], [None] * len(keyed), rule, keyed["_status"],
                          keyed["_reason"])
            )  # fmt: skip

    first, second = t.haemolysis_targets
    flagged = haemolysis.loc[haemolysis["status"].isin([WARN, FAIL])]
    label = np.where(
        flagged["status"].eq(FAIL),
        f"above {t.haemolysis_high:g}: high risk",
        f"{t.haemolysis_borderline:g}-{t.haemolysis_high:g}: borderline",
    ).astype(object)
    add(
        flagged,
        "haemolysis_index",
        flagged["status"].to_numpy(),
        f"haemolysis index ΔCq({first} − {second}) "
        + format_numbers(flagged["index"])
        + " ("
        + label
        + ")",
    )
    a414 = haemolysis.loc[haemolysis["a414"] > t.a414_limit]
    add(a414, "haemolysis_a414", FAIL, "A414 " + format_numbers(a414["a414"], "%.3f")
        + f" above {t.a414_limit:g}")  # fmt: skip
    grade = haemolysis["grade"].astype("string")
    heavy = haemolysis.loc[grade.isin(["moderate", "gross"]).fillna(False).to_numpy()]
    add(heavy, "haemolysis_grade", FAIL, "haemolysis graded " + heavy["grade"].astype(str)
        + " at the draw")  # fmt: skip
    slight = haemolysis.loc[grade.eq("slight").fillna(False).to_numpy()]
    add(slight, "haemolysis_grade", WARN, "haemolysis graded slight at the draw")

    if "freeze_thaw_count" in products:
        thawed = products.loc[products["freeze_thaw_count"] > t.freeze_thaw_limit]
        add(thawed, "freeze_thaw", WARN, "tube " + thawed["aliquot"].astype(str)
            + " thawed " + thawed["freeze_thaw_count"].astype(int).astype(str)
            + f" times (limit {t.freeze_thaw_limit})", on="sample_id")  # fmt: skip
    if "excursions" in products:
        hot = products.loc[products["excursions"] > 0]
        add(hot, "excursion", WARN, "tube " + hot["aliquot"].astype(str)
            + " was in a freezer temperature excursion" + _exposure(hot),
            on="sample_id")  # fmt: skip
    for rule, start, end, limit, what in (
        ("centrifugation_delay", "drawn_at", "centrifuged_at", t.centrifugation_delay_minutes,
         "draw to centrifugation"),
        ("freezing_delay", "centrifuged_at", "frozen_at", t.freezing_delay_minutes,
         "centrifugation to freezer"),
    ):  # fmt: skip
        if start in products and end in products:
            minutes = (_moments(products[end]) - _moments(products[start])).dt.total_seconds() / 60
            late = products.loc[(minutes > limit).to_numpy()]
            add(late, rule, WARN, f"{what} " + format_numbers(minutes[minutes > limit], "%.0f")
                + f" min (limit {limit:g})", on="sample_id")  # fmt: skip
    return pd.concat(parts, ignore_index=True) if parts else _empty()


# ------------------------------------------------------------------------- combining


def measurement_qc(normalised: pd.DataFrame, findings: pd.DataFrame, t: QcThresholds):
    """One row per measurement of ``normalised`` (analysis.normalise.delta_cq's output):
    sample_id, patient_id, timepoint, target, qc (pass / warn / fail), qc_reasons
    ('; '-joined), qc_rules (','-joined rule names, for sensitivity filters).

    Findings about the spike-in, the draw or the tube (target None, or the spike-in)
    apply to every miRNA of the RT product."""
    keys = normalised.loc[
        normalised["kind"].eq("sample"), ["sample_id", "patient_id", "timepoint", "target"]
    ].copy()
    keys["sample_id"] = keys["sample_id"].astype("Int64")
    missing = normalised.loc[
        normalised["kind"].eq("sample") & normalised["delta_cq"].isna(),
        ["sample_id", "target", "reason"],
    ]
    value = _findings(
        missing["sample_id"], missing["target"], "value", FAIL,
        "no ΔCq: " + missing["reason"].astype(str),
    )  # fmt: skip
    present = [f for f in (findings, value) if len(f)]
    findings = pd.concat(present, ignore_index=True) if present else _empty()
    if findings.empty:
        out = keys.assign(qc=PASS, qc_reasons="", qc_rules="")
        return out.reset_index(drop=True)
    whole_product = findings["target"].isna() | findings["target"].eq(t.spike_in_target)
    specific = keys.merge(findings.loc[~whole_product], on=["sample_id", "target"])
    general = keys.merge(findings.loc[whole_product].drop(columns="target"), on="sample_id")
    hits = pd.concat([specific, general], ignore_index=True)
    hits = hits.drop_duplicates(["sample_id", "target", "rule", "reason"])
    hits["severity"] = hits["status"].map(SEVERITY)
    hits = hits.sort_values(["severity", "rule"], ascending=[False, True], kind="stable")
    measurement = ["sample_id", "target"]
    # Most flagged measurements have one finding: only the others need a Python join.
    repeated = hits.duplicated(measurement, keep=False).to_numpy()
    single = hits.loc[~repeated, [*measurement, "severity", "reason", "rule"]].rename(
        columns={"reason": "qc_reasons", "rule": "qc_rules"}
    )
    parts = [single]
    if repeated.any():
        parts.append(_joined(hits.loc[repeated], measurement, "reason", "rule"))
    summary = pd.concat(parts, ignore_index=True)
    out = keys.merge(summary, on=["sample_id", "target"], how="left")
    out["qc"] = out["severity"].fillna(0).astype(int).map(STATUS_BY_SEVERITY)
    out["qc_reasons"] = out["qc_reasons"].fillna("")
    out["qc_rules"] = out["qc_rules"].fillna("")
    return out.drop(columns="severity").reset_index(drop=True)


def _joined(hits: pd.DataFrame, keys: list[str], reason: str, rule: str) -> pd.DataFrame:
    """Per key: the worst severity, the reasons '; '-joined in order and the distinct
    rules ','-joined, by string sums (cython) rather than a Python join per group."""
    grouped = hits.groupby(keys, sort=False)
    severity = grouped["severity"].max()
    reasons = (hits[reason].astype(object) + "; ").groupby([hits[k] for k in keys], sort=False)
    rules = hits.drop_duplicates([*keys, rule])
    rules = (rules[rule].astype(object) + ",").groupby([rules[k] for k in keys], sort=False)
    out = pd.DataFrame(
        {
            "severity": severity,
            "qc_reasons": reasons.sum().str[:-2],
            "qc_rules": rules.sum().str[:-1],
        }
    )
    return out.reset_index()


def patient_qc(measurements: pd.DataFrame) -> pd.DataFrame:
    """Wide per-patient QC: ``<prefix>_<tp>_qc``, ``_qc_reasons``, ``_qc_rules`` with the
    same prefixes as analysis.normalise.patient_expression. Repeated RT products of one
    patient and time point take the worst status and every reason."""
    # A map, not string methods: two labels, 80,000 rows at 10,000 patients.
    labels = {"PRE": "pre", "POST": "post", "pre": "pre", "post": "post", "Pre": "pre"}
    tp = measurements["timepoint"].map(labels)
    rows = measurements.loc[measurements["patient_id"].notna() & tp.notna()].copy()
    rows["tp"] = tp[rows.index]
    if rows.empty:
        return pd.DataFrame({"patient_id": []})
    rows["prefix"] = rows["target"].map(_prefixes(rows["target"].unique()))
    rows["severity"] = rows["qc"].map(SEVERITY)
    # Integer codes for patient and (prefix, timepoint): the wide table is filled by
    # position, without comparing 80,000 object keys again and again.
    patient_code, patients = pd.factorize(rows["patient_id"], sort=True)
    column_code, combos = pd.factorize(rows["prefix"] + "|" + rows["tp"], sort=True)
    rows["_key"] = patient_code.astype(np.int64) * len(combos) + column_code
    # Almost every key has one RT product: only the repeated ones need a Python join.
    repeated = rows["_key"].duplicated(keep=False).to_numpy()
    single = rows.loc[~repeated, ["_key", "severity", "qc_reasons", "qc_rules"]].rename(
        columns={"qc_reasons": "reasons", "qc_rules": "rules"}
    )
    parts = [single]
    if repeated.any():
        grouped = rows.loc[repeated].groupby("_key", sort=False)
        parts.append(
            grouped.agg(
                severity=("severity", "max"),
                reasons=("qc_reasons", lambda r: "; ".join(dict.fromkeys(x for x in r if x))),
                rules=("qc_rules", _join_rules),
            ).reset_index()
        )
    summary = pd.concat(parts, ignore_index=True)
    key = summary["_key"].to_numpy()
    where, which = key // len(combos), key % len(combos)
    status = summary["severity"].map(STATUS_BY_SEVERITY).to_numpy(dtype=object)
    values = {"qc": status, "qc_reasons": summary["reasons"].to_numpy(dtype=object),
              "qc_rules": summary["rules"].to_numpy(dtype=object)}  # fmt: skip
    columns = {}
    for index, combo in enumerate(combos):
        prefix, label = combo.split("|")
        mine = which == index
        for suffix, source in values.items():
            column = np.full(len(patients), None, dtype=object)
            column[where[mine]] = source[mine]
            columns[f"{prefix}_{label}_{suffix}"] = column
    return pd.DataFrame({"patient_id": patients, **columns})


def _join_rules(values) -> str:
    seen = dict.fromkeys(rule for value in values for rule in value.split(",") if rule)
    return ",".join(seen)


@dataclass(frozen=True)
class QcResult:
    findings: (
        pd.DataFrame
    )  # every finding: sample_id, target (None: whole RT product), rule, status, reason
    measurements: pd.DataFrame  # one row per RT product x miRNA with its status and reasons
    per_patient: pd.DataFrame  # wide <prefix>_<tp>_qc / _qc_reasons / _qc_rules per patient_id
    spike_in: pd.DataFrame  # spike-in Cq per RT product against its extraction batch
    haemolysis: pd.DataFrame  # haemolysis index, A414 and grade per draw


def _exposure(hot: pd.DataFrame) -> pd.Series | str:
    """' (2 excursions, 95 min inside, peak -41 °C)' from the products' exposure columns
    (biobank.selectors.qc_inputs), '' for a frame without them."""
    if not len(hot) or "excursion_minutes" not in hot:
        return ""
    count = hot["excursions"].astype(int)
    parts = count.map(lambda n: f"{n} excursions, " if n > 1 else "")
    parts = parts + hot["excursion_minutes"].astype(int).astype(str) + " min inside"
    if "excursion_peak_c" in hot:
        peak = hot["excursion_peak_c"].astype(float)
        parts = parts + peak.map(lambda c: "" if pd.isna(c) else f", peak {c:g} °C")
    return " (" + parts + ")"


def derive_qc(
    *,
    qc_wells: pd.DataFrame,
    replicates: pd.DataFrame,
    ntc: pd.DataFrame,
    normalised: pd.DataFrame,
    products: pd.DataFrame | None = None,
    thresholds: QcThresholds | None = None,
) -> QcResult:
    """Every rule over the normalisation's tables. ``products`` (one row per RT product:
    sample_id, draw_id, patient_id, timepoint, batch, aliquot, freeze_thaw_count,
    excursions [, excursion_minutes, excursion_peak_c], haemolysis, a414, drawn_at, centrifuged_at, frozen_at) brings the
    spike-in batch, haemolysis and pre-analytical rules; without it only the well-level
    rules apply."""
    t = thresholds or QcThresholds()
    parts = [replicate_findings(replicates, t), ntc_findings(qc_wells, replicates, ntc, t)]
    spike = haemolysis = pd.DataFrame()
    if products is not None and len(products):
        spike = spike_in_table(replicates, products, t)
        haemolysis = haemolysis_table(replicates, products, t)
        parts += [spike_in_findings(spike, t), draw_findings(products, haemolysis, t)]
    findings = (
        pd.concat([p for p in parts if len(p)], ignore_index=True)
        if any(len(p) for p in parts)
        else _empty()
    )
    measurements = measurement_qc(normalised, findings, t)
    return QcResult(
        findings=findings,
        measurements=measurements,
        per_patient=patient_qc(measurements),
        spike_in=spike,
        haemolysis=haemolysis,
    )


def _records(frame: pd.DataFrame, columns: dict[str, str]) -> list[dict]:
    """JSON-ready rows with the report's names (NaN -> None)."""
    if frame is None or frame.empty:
        return []
    out = frame[list(columns)].rename(columns=columns).astype(object)
    return out.where(out.notna(), None).to_dict("records")


def qc_evidence(
    *,
    qc_wells: pd.DataFrame,
    ntc: pd.DataFrame,
    qc: QcResult,
    products: pd.DataFrame | None,
    thresholds: QcThresholds,
) -> dict:
    """What the report's QC section shows beside the cohort's QC columns: every plate's
    NTCs, the spike-in per extraction batch, the haemolysis index per draw and the
    excluded wells, named by plate barcode and RT code (JSON-ready)."""
    parts = evidence_parts(qc_wells=qc_wells, ntc=ntc, qc=qc, products=products)
    return evidence_from_parts(parts, thresholds)


def evidence_parts(
    *, qc_wells: pd.DataFrame, ntc: pd.DataFrame, qc: QcResult, products: pd.DataFrame | None
) -> dict[str, pd.DataFrame]:
    """The row-level tables qc_evidence is cut from, whole (no row limit): one row per
    (plate, NTC target), RT product's spike-in, draw and excluded well. Kept apart so the
    cohort cache can replace the rows a change touched and cut the evidence again
    (biobank.selectors.cohort_incremental) with exactly a full build's result."""
    plate_names = {}
    if "plate" in qc_wells.columns:
        plate_names = dict(zip(qc_wells["plate_id"], qc_wells["plate"], strict=False))
    rt_codes = {}
    if products is not None and "rt_code" in products:
        rt_codes = dict(zip(products["sample_id"], products["rt_code"], strict=False))
    ntc = ntc.assign(plate=ntc["plate_id"].map(plate_names).fillna(ntc["plate_id"].astype(str)))
    excluded = qc_wells.loc[qc_wells["excluded"].astype(bool)].copy()
    excluded["plate"] = (
        excluded["plate_id"].map(plate_names).fillna(excluded["plate_id"].astype(str))
    )
    excluded["rt_code"] = excluded["sample_id"].map(rt_codes)
    spike = qc.spike_in.copy()
    if len(spike):
        spike = spike.merge(
            products[["sample_id", "rt_code", "patient_id", "timepoint"]], on="sample_id"
        )
    return {"ntc": ntc, "spike_in": spike, "haemolysis": qc.haemolysis, "excluded": excluded}


def evidence_from_parts(parts: dict[str, pd.DataFrame], thresholds: QcThresholds) -> dict:
    """qc_evidence from its row-level tables (see evidence_parts)."""
    ntc, spike, excluded = parts["ntc"], parts["spike_in"], parts["excluded"]
    spike_rows = spike if len(spike) <= EVIDENCE_ROWS else spike.loc[spike["outlier"]]
    haemolysis = parts["haemolysis"]
    total_haemolysis = len(haemolysis)
    if len(haemolysis) > EVIDENCE_ROWS:
        haemolysis = haemolysis.loc[haemolysis["status"].isin([WARN, FAIL])]
    return {
        "ntc": _records(ntc, {"plate": "plate", "target": "target", "n_ntc": "n_ntc",
                              "n_amplified": "n_amplified", "cq": "cq", "flag": "flag"}),
        "spike_in": _records(spike_rows, {"batch": "batch", "rt_code": "rt_code",
                                          "patient_id": "study_id", "timepoint": "timepoint",
                                          "cq": "cq", "z": "z", "outlier": "outlier"}),
        "spike_in_total": int(len(spike)),
        "spike_in_limit": thresholds.spike_in_z_limit,
        "haemolysis": _records(haemolysis, {"patient_id": "study_id",
                                            "timepoint": "timepoint", "index": "index",
                                            "a414": "a414", "grade": "grade",
                                            "status": "status"}),
        "haemolysis_total": int(total_haemolysis),
        "haemolysis_limits": {"borderline": thresholds.haemolysis_borderline,
                              "high": thresholds.haemolysis_high},
        "well_exclusions": _records(excluded.head(EVIDENCE_ROWS),
                                    {"plate": "plate", "position": "position",
                                     "target": "target", "rt_code": "rt_code",
                                     "exclusion_reason": "reason",
                                     "exclusion_source": "source"}),
        "well_exclusions_total": int(len(excluded)),
    }  # fmt: skip
