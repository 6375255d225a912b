"""Generate a SYNTHETIC demo cohort shaped like the study's Table I.

Nothing here is patient data. From a seed, `generate_cohort` builds plain
pandas DataFrames (no ORM) for every table of the sample chain: patients with
their baselines and identities, the initial TACE, follow-up, PRE and POST serum
draws, aliquots in -80 °C boxes, ExoQuick batches, RNA, RT products, qPCR plates
and wells with Cq values. `biobank.demo.loader` writes them to the database.

For N = 75 the categorical counts of Table I are reproduced exactly (57 liver
cirrhosis / 18 chronic hepatitis, 49 M / 26 F, etiology, BCLC, diabetes); for
other N the same proportions are used, rounded by largest remainder so they sum
to N. Lab values are drawn through a Gaussian copula: latent variables (liver
dysfunction, hepatocyte injury, tumour burden) are mixed, ranked and mapped onto
a two-piece distribution whose median is Table I's median and whose lowest and
highest ranks land exactly on Table I's minimum and maximum. Missing values
follow the paper's case numbers (HbA1c 70/75, PT 73/75, DCP 73/75).

Built-in effects, in the paper's direction: pre-TACE miR-122 expression rises
with AST, ALT and tumour diameter and falls with the Child-Pugh score; miR-21
rises with PT and falls with Child-Pugh; miR-122 falls after TACE (ΔCq POST >
ΔCq PRE), miR-21 does not change. Disease-specific survival (median ~47 months)
is shorter with Child-Pugh B, AFP > 20, DCP > 40, tumour > 3 cm and, in
cirrhosis, with a lower miR-122 ratio ΔCq(POST) / ΔCq(PRE).

The QC gate at work (issue 12), all of it SYNTHETIC too: every RT product is also
measured for miR-23a-3p and miR-451a on separate haemolysis-panel plates, and the
haemolysis index ΔCq(miR-23a-3p - miR-451a) (Blondal et al., Methods 2013: > 7 high
risk, 5-7 borderline) agrees with the grade recorded at the draw: ~N(3, 1) below 5
for most draws ('none'), 5-7 for about 2 % ('slight'), above 7 with an A414 above 0.2
(Kirschner et al. 2011) for about 2 % ('moderate'); a third of the other draws have an
A414 of 0.05-0.15. One RT product has a failed spike-in (its cel-miR-39-3p Cq about 5
cycles above its extraction batch, so its miRNAs look falsely high), and one miRNA
plate has contaminated no-template controls (every NTC at Cq 12.8-13.3). The 75
patients' miR-122 / miR-21 Cq values are those the cohort had before these were added.

Everything derives from the seed through numpy's default generator (one
`default_rng` stream per stage, spawned from `SeedSequence(seed)`, each used in
a fixed order): the same (n, seed) gives identical frames, on any machine, with
no clock and no Python hash randomness involved.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtri

from biobank.domain.child_pugh import child_pugh, grade_for_score
from biobank.domain.rt_codes import rt_code

DEFAULT_PATIENTS = 75
# Picked from 20190101-20190140 (about 3 in 4 give log-rank P < 0.1 at N = 75): with it
# the cirrhotic patients split at the median miR-122 ratio differ with log-rank
# P = 0.007, and the Cox HRs for Child-Pugh B, DCP > 40, diameter > 3 cm and a low
# ratio are all above 1, univariate and multivariate.
DEFAULT_SEED = 20190111

# Demo objects are recognisable by these, so `seed_demo --reset` removes exactly them.
STUDY_ID_PREFIX = "DEMO-"
BOX_PREFIX = "DEMO-BX-"
RACK_PREFIX = "DEMO-R"
BATCH_PREFIX = "DEMO-EXO-"
PLATE_PREFIX = "DEMO-QP-"
FREEZER_PREFIX = "ULT-"
DEMO_LOCATION = "Demo biobank (synthetic data from manage.py seed_demo)"

TABLE_I_N = 75
CATEGORY_COUNTS = {
    "liver_background": {"cirrhosis": 57, "chronic_hepatitis": 18},
    "sex": {"M": 49, "F": 26},
    "etiology": {"HBV": 9, "HBV+HCV": 3, "HCV": 39, "NBNC": 24},
    "bclc_stage": {"0": 1, "A": 36, "B": 34, "C": 4},
    "type2_diabetes": {True: 30, False: 45},
}
# Table I: median, minimum, maximum, mapped on a log scale?, decimals kept.
LAB_VALUES = {
    "age_at_enrolment": (73, 38, 89, False, 0),
    "ast_iu_l": (47, 13, 219, True, 0),
    "alt_iu_l": (33, 9, 220, True, 0),
    "hba1c_percent": (5.5, 4.1, 8.4, True, 1),
    "total_bilirubin_mg_dl": (0.9, 0.3, 4.2, True, 1),
    "albumin_g_dl": (3.5, 2.3, 5.0, False, 1),
    "pt_percent": (75, 47, 118, False, 0),
    "platelets_1e4_ul": (11.1, 2.6, 39.7, True, 1),
    "afp_ng_ml": (15.8, 1, 126234, True, 1),
    "dcp_mau_ml": (96, 7, 225827, True, 0),
    "tumour_diameter_cm": (3.4, 1.0, 19.5, True, 1),
}
# Tumour number 2 (1-10): cumulative probabilities of 1..10 nodules.
TUMOUR_NUMBER_CDF = (0.42, 0.62, 0.75, 0.83, 0.88, 0.92, 0.95, 0.97, 0.985, 1.0)
# Case numbers of Tables II/III: HbA1c 70 of 75, PT 73, DCP 73; never 0, always NULL.
MISSING_COUNTS = {"hba1c_percent": 5, "pt_percent": 2, "dcp_mau_ml": 2}
CHILD_PUGH_MAX = 9  # grade C was an exclusion criterion

TACE_FIRST = np.datetime64("2006-01-04")
TACE_LAST = np.datetime64("2013-03-29")
MIRIPLATIN_FROM = np.datetime64("2010-01-01")  # approved in Japan in 2010
STUDY_END = np.datetime64("2016-12-31")
EXTRACTION_START = np.datetime64("2017-01-10")
DAYS_PER_MONTH = 365.25 / 12

# Expression: ΔCq = Cq(miR) - Cq(cel-miR-39). Table IV's cut-offs 0.00024 and 0.00064
# are 2^-12.0 and 2^-10.6.
SPIKE_IN_CQ = (17.5, 0.7)
MIR122_DCQ_PRE = (12.0, 1.7)
MIR21_DCQ_PRE = (10.6, 1.5)
MIR122_FALL = {"cirrhosis": 0.8, "chronic_hepatitis": 0.35}  # mean ΔCq POST - PRE
MIR122_FALL_SD = 0.9
MIR21_CHANGE_SD = 0.7
REPLICATE_SD = 0.15
OUTLIER_RATE, OUTLIER_SHIFT = 0.03, (0.8, 2.0)
UNDETERMINED_RATE = 0.005
NTC_LATE_RATE, NTC_LATE_CQ = 0.04, (35.5, 39.5)

# Disease-specific survival: Weibull, log hazard ratios, baseline fitted to the median.
MEDIAN_DSS_MONTHS = 47.0
WEIBULL_SHAPE = 1.3
LOG_HR = {
    "child_pugh_b": math.log(2.4),
    "afp_over_20": math.log(1.9),
    "dcp_over_40": math.log(2.6),
    "diameter_over_3": math.log(2.4),
    # Per SD of a LOWER ratio ΔCq(POST) / ΔCq(PRE), cirrhosis only. As the paper reports
    # it; note that on this ΔCq scale a lower ratio means miR-122 fell less after TACE.
    "mir122_ratio_sd_in_cirrhosis": math.log(2.3),
}
OTHER_DEATH_MEDIAN_MONTHS = 300.0
LOSS_MEDIAN_MONTHS = 420.0

# Logistics.
ALIQUOTS_PER_DRAW = 4
ALIQUOT_VOLUME_UL = 250
BOX_ROWS = BOX_COLUMNS = 9
BOXES_PER_RACK = 10
RACKS_PER_FREEZER = 20
BATCH_SIZE = 24  # aliquots per ExoQuick batch: 12 patients, PRE and POST side by side
BATCHES_PER_DAY = 2
PRODUCTS_PER_PLATE = 10
PLATE_ROWS, PLATE_COLUMNS = 8, 12
ASSAYS = (
    # target, TaqMan assay id, role; the order of the wells of a product
    ("hsa-miR-122-5p", "002245", "target"),
    ("hsa-miR-21-5p", "000397", "target"),
    ("cel-miR-39-3p", "000200", "spike_in"),
)
REPLICATES = 3
# The haemolysis panel (Blondal et al., Methods 2013): measured on plates of its own.
HAEMOLYSIS_ASSAYS = (
    ("hsa-miR-23a-3p", "000399", "target"),
    ("hsa-miR-451a", "001141", "target"),
)
ALL_ASSAYS = ASSAYS + HAEMOLYSIS_ASSAYS  # the wells' `assay` indexes this
# Standard curves (issue 14): one dilution series of each assay's synthetic template,
# 10^7 down to 10^3 copies in triplicate, on plates of their own (the sample plates are
# full), one such run at the start and one at the end of the study's qPCR work, so that
# each assay has a curve per run and a pooled value. The true efficiencies differ from
# 100 % as real miRNA assays do; the curves recover them within their SE.
STANDARD_PLATE_TAG = "S"  # DEMO-QP-S0001, ...
STANDARD_RUNS = 2
STANDARD_COPIES = (1e7, 1e6, 1e5, 1e4, 1e3)
STANDARD_EFFICIENCY = {  # by target: the assay's true efficiency (1.0 = 100 %)
    "hsa-miR-122-5p": 0.94,
    "hsa-miR-21-5p": 0.97,
    "cel-miR-39-3p": 1.00,
    "hsa-miR-23a-3p": 0.96,
    "hsa-miR-451a": 0.92,
}
STANDARD_CQ_AT_ONE_COPY = 39.5  # the intercept: Cq of a single copy
STANDARD_SD = 0.12  # replicate SD of a standard (cycles)
PANEL_PRODUCTS_PER_PLATE = 15  # 15 x 2 assays x 3 replicates = 90 wells, NTCs in H7-H8
PANEL_PLATE_TAG = "H"  # panel plates: DEMO-QP-H0001, ...
# Haemolysis index ΔCq(miR-23a-3p - miR-451a): most draws ~N(3, 1) kept below 5, a few
# borderline (5-7, graded 'slight') and a few high risk (> 7, 'moderate'); margins keep
# each class clear of the 5 and 7 lines whatever the replicate noise.
HAEMOLYSIS_INDEX = (3.0, 1.0)
HAEMOLYSIS_INDEX_CLEAN_MAX = 4.6
HAEMOLYSIS_INDEX_BORDERLINE = (5.5, 6.5)
HAEMOLYSIS_INDEX_HIGH = (7.5, 9.0)
HAEMOLYSED_DRAWS = BORDERLINE_DRAWS = 3  # of 150 draws (75 patients)
MIR23A_DCQ = (6.0, 0.8)  # miR-23a-3p Cq - spike-in Cq; miR-451a follows from the index
A414_MEASURED_FRACTION = 1 / 3
A414_CLEAN = (0.05, 0.15)
A414_BORDERLINE = (0.14, 0.19)
A414_HAEMOLYSED = (0.25, 0.45)  # above Kirschner's 0.2
SPIKE_IN_FAILURE_SHIFT = 5.0  # cycles above the batch's median spike-in Cq
NTC_CONTAMINATION_CQ = (12.8, 13.3)

LAST_NAMES = (
    "Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura",
    "Kobayashi", "Kato", "Yoshida", "Yamada", "Sasaki", "Yamaguchi", "Matsumoto", "Inoue",
    "Kimura", "Hayashi", "Shimizu", "Yamazaki", "Mori", "Abe", "Ikeda", "Hashimoto",
)  # fmt: skip
MALE_NAMES = (
    "Hiroshi", "Takeshi", "Kenji", "Makoto", "Shigeru", "Isamu", "Minoru", "Osamu",
    "Tadashi", "Yoshio", "Kazuo", "Masao", "Akira", "Noboru", "Tsutomu", "Haruo",
)  # fmt: skip
FEMALE_NAMES = (
    "Yoshiko", "Keiko", "Kazuko", "Michiko", "Sachiko", "Fumiko", "Hiroko", "Setsuko",
    "Toshiko", "Kimiko", "Emiko", "Chieko", "Masako", "Noriko", "Sumiko", "Teruko",
)  # fmt: skip


@dataclass(frozen=True)
class Cohort:
    """The generated frames. Row positions are the keys between frames (`patient` is a
    row of `patients`, `draw` a row of `draws`, ...); the loader turns them into pks."""

    n: int
    seed: int
    patients: pd.DataFrame
    follow_ups: pd.DataFrame
    draws: pd.DataFrame
    aliquots: pd.DataFrame
    freezers: pd.DataFrame
    racks: pd.DataFrame
    boxes: pd.DataFrame
    batches: pd.DataFrame
    products: pd.DataFrame
    plates: pd.DataFrame
    wells: pd.DataFrame

    @property
    def note(self) -> str:
        return f"seed_demo synthetic cohort: {self.n} patients, seed {self.seed}"


# --------------------------------------------------------------------------- helpers


def scaled_counts(counts: dict, n: int) -> dict:
    """Table I's counts rescaled to n patients by largest remainder (exact for n = 75)."""
    total = sum(counts.values())
    result = {key: value * n // total for key, value in counts.items()}
    remainders = sorted(
        counts, key=lambda key: (-(counts[key] * n % total), list(counts).index(key))
    )
    for key in remainders[: n - sum(result.values())]:
        result[key] += 1
    return result


def scaled_count(count: int, n: int) -> int:
    """round(count * n / 75), halves up, in integers."""
    return (2 * count * n + TABLE_I_N) // (2 * TABLE_I_N)


def allocate(rng: np.random.Generator, counts: dict, n: int) -> np.ndarray:
    """A shuffled vector holding each category exactly its scaled count."""
    scaled = scaled_counts(counts, n)
    labels = np.array(
        [key for key, count in scaled.items() for _ in range(count)],
        dtype=object,
    )
    return rng.permutation(labels)


def standardise(values: np.ndarray) -> np.ndarray:
    sd = values.std()
    return (values - values.mean()) / (sd if sd > 0 else 1.0)


def ranks(latent: np.ndarray) -> np.ndarray:
    order = np.argsort(latent, kind="stable")
    result = np.empty(len(latent), dtype=np.int64)
    result[order] = np.arange(len(latent))
    return result


def normal_scores(latent: np.ndarray) -> tuple[np.ndarray, float]:
    """Rank-based normal scores, and the score of the highest rank (0 for one value)."""
    n = len(latent)
    scores = ndtri((ranks(latent) + 0.5) / n)
    return scores, float(ndtri(1 - 0.5 / n)) if n > 1 else 1.0


def two_piece(
    latent: np.ndarray, median: float, low: float, high: float, *, log: bool, decimals: int
) -> np.ndarray:
    """Map a latent variable onto Table I's median (range): the middle rank gets the
    median, the lowest the minimum and the highest the maximum, with a normal shape on
    each side (on the log scale for skewed measures). Order is preserved, so the
    latent's correlations carry over to the values."""
    scores, top = normal_scores(latent)
    scale = np.log if log else (lambda x: np.asarray(x, dtype=float))
    centre, bottom, ceiling = (float(scale(v)) for v in (median, low, high))
    mapped = np.where(
        scores < 0,
        centre + scores / top * (centre - bottom),
        centre + scores / top * (ceiling - centre),
    )
    values = np.exp(mapped) if log else mapped
    return np.clip(np.round(values, decimals), low, high)


def tumour_numbers(latent: np.ndarray) -> np.ndarray:
    n = len(latent)
    probabilities = (ranks(latent) + 0.5) / n
    numbers = np.searchsorted(np.array(TUMOUR_NUMBER_CDF), probabilities, side="right") + 1
    numbers = np.minimum(numbers, len(TUMOUR_NUMBER_CDF))
    if n > 1:
        numbers[np.argmax(latent)] = len(TUMOUR_NUMBER_CDF)  # Table I's maximum, 10
        numbers[np.argmin(latent)] = 1
    return numbers


def mix(rng: np.random.Generator, n: int, **loadings) -> np.ndarray:
    """A latent variable: sum of loading * component, plus independent noise so that
    its variance is 1 when the components are standard."""
    total = np.zeros(n)
    explained = 0.0
    for component, loading in loadings.values():
        total += loading * component
        explained += loading**2
    return total + math.sqrt(max(1.0 - explained, 0.05)) * rng.standard_normal(n)


def days(values) -> np.ndarray:
    return np.asarray(values, dtype="timedelta64[D]")


def minutes(values) -> np.ndarray:
    return np.asarray(values, dtype="timedelta64[m]")


# --------------------------------------------------------------------------- patients


def _baseline(rng: np.random.Generator, n: int) -> pd.DataFrame:
    width = max(4, len(str(n)))
    frame = pd.DataFrame({"study_id": [f"{STUDY_ID_PREFIX}{i:0{width}d}" for i in range(1, n + 1)]})

    # Categories with Table I's exact counts, allocated by shuffling category vectors.
    background = allocate(rng, CATEGORY_COUNTS["liver_background"], n)
    frame["liver_background"] = background
    frame["sex"] = allocate(rng, CATEGORY_COUNTS["sex"], n)
    frame["etiology"] = allocate(rng, CATEGORY_COUNTS["etiology"], n)
    cirrhosis = (background == "cirrhosis").astype(float)
    # Diabetes: exact count, more often in NBNC (fatty liver disease) patients.
    diabetes_key = rng.standard_normal(n) + 0.8 * (frame["etiology"].to_numpy() == "NBNC")
    n_diabetes = scaled_counts(CATEGORY_COUNTS["type2_diabetes"], n)[True]
    diabetic = np.zeros(n, dtype=bool)
    diabetic[np.argsort(-diabetes_key, kind="stable")[:n_diabetes]] = True
    frame["type2_diabetes"] = diabetic

    # Latent drivers: liver dysfunction (worse in cirrhosis), hepatocyte injury, tumour.
    liver = standardise(0.9 * cirrhosis + rng.standard_normal(n))
    injury = rng.standard_normal(n)
    tumour = rng.standard_normal(n)
    pt_own = rng.standard_normal(n)
    frame["latent_liver"], frame["latent_injury"], frame["latent_tumour"] = liver, injury, tumour
    frame["latent_pt"] = pt_own

    def lab(name, latent):
        median, low, high, log, decimals = LAB_VALUES[name]
        return two_piece(latent, median, low, high, log=log, decimals=decimals)

    frame["age_at_enrolment"] = lab("age_at_enrolment", rng.standard_normal(n)).astype(int)
    frame["ast_iu_l"] = lab("ast_iu_l", mix(rng, n, i=(injury, 0.85), l=(liver, 0.1)))
    frame["alt_iu_l"] = lab("alt_iu_l", mix(rng, n, i=(injury, 0.85), l=(liver, 0.0)))
    frame["hba1c_percent"] = lab(
        "hba1c_percent", mix(rng, n, d=(standardise(diabetic.astype(float)), 0.75))
    )
    frame["total_bilirubin_mg_dl"] = lab("total_bilirubin_mg_dl", mix(rng, n, l=(liver, 0.75)))
    frame["albumin_g_dl"] = lab("albumin_g_dl", mix(rng, n, l=(liver, -0.75)))
    frame["pt_percent"] = lab("pt_percent", -0.72 * liver + math.sqrt(1 - 0.72**2) * pt_own)
    frame["platelets_1e4_ul"] = lab(
        "platelets_1e4_ul", mix(rng, n, l=(liver, -0.55), c=(standardise(cirrhosis), -0.3))
    )
    frame["afp_ng_ml"] = lab("afp_ng_ml", mix(rng, n, t=(tumour, 0.5)))
    frame["dcp_mau_ml"] = lab("dcp_mau_ml", mix(rng, n, t=(tumour, 0.65)))
    diameter_latent = mix(rng, n, t=(tumour, 0.85))
    number_latent = mix(rng, n, t=(tumour, 0.55))
    frame["tumour_diameter_cm"] = lab("tumour_diameter_cm", diameter_latent)
    frame["tumour_number"] = tumour_numbers(number_latent)
    frame["latent_diameter"] = standardise(diameter_latent)
    frame["bclc_stage"] = _bclc(rng, frame, number_latent, diameter_latent)

    # Ascites and encephalopathy only in the most decompensated cirrhotic livers.
    decompensation = liver + 0.6 * rng.standard_normal(n)
    quantile = ranks(decompensation) / max(n - 1, 1)
    is_cirrhotic = cirrhosis > 0
    ascites = np.full(n, "none", dtype=object)
    ascites[is_cirrhotic & (quantile >= 0.88)] = "slight"
    ascites[is_cirrhotic & (quantile >= 0.985)] = "moderate"
    encephalopathy = np.full(n, "none", dtype=object)
    encephalopathy[is_cirrhotic & (quantile >= 0.99)] = "grade_1_2"
    frame["ascites"], frame["encephalopathy"] = ascites, encephalopathy
    _keep_child_pugh_below_c(rng, frame)
    return frame


def _bclc(rng, frame, number_latent, diameter_latent) -> np.ndarray:
    """BCLC stages with Table I's exact counts: stage 0 for a single nodule < 2 cm, C
    (vascular invasion, independent of size) at random, then A for the smallest
    burden and B (multinodular) for the rest."""
    n = len(frame)
    counts = scaled_counts(CATEGORY_COUNTS["bclc_stage"], n)
    stage = np.full(n, "", dtype=object)
    key = standardise(number_latent) + 0.5 * standardise(diameter_latent)
    key = key + 0.4 * rng.standard_normal(n)
    single_small = (frame["tumour_number"].to_numpy() == 1) & (
        frame["tumour_diameter_cm"].to_numpy() < 2
    )
    by_key = np.argsort(key, kind="stable")
    zero = [i for i in by_key if single_small[i]][: counts["0"]]
    chosen = set(zero)
    zero += [i for i in by_key if i not in chosen][: counts["0"] - len(zero)]
    stage[zero] = "0"
    free = np.flatnonzero(stage == "")
    stage[rng.choice(free, size=counts["C"], replace=False)] = "C"
    rest = [i for i in by_key if stage[i] == ""]
    stage[rest[: counts["A"]]] = "A"
    stage[rest[counts["A"] :]] = "B"
    return stage


def child_pugh_scores(frame: pd.DataFrame, rows=None) -> np.ndarray:
    rows = range(len(frame)) if rows is None else rows
    columns = [
        frame[name].to_numpy()
        for name in (
            "total_bilirubin_mg_dl",
            "albumin_g_dl",
            "pt_percent",
            "ascites",
            "encephalopathy",
        )
    ]
    return np.array(
        [
            child_pugh(
                total_bilirubin_mg_dl=float(columns[0][i]),
                albumin_g_dl=float(columns[1][i]),
                pt_percent=float(columns[2][i]),
                ascites=columns[3][i],
                encephalopathy=columns[4][i],
            ).score
            for i in rows
        ],
        dtype=int,
    )


def _keep_child_pugh_below_c(rng: np.random.Generator, frame: pd.DataFrame) -> None:
    """Grade C was excluded from the study: soften ascites / encephalopathy, then swap
    bilirubin with a well-compensated patient, until every score is at most 9.
    Swapping keeps the bilirubin distribution (median and range) unchanged."""
    scores = child_pugh_scores(frame)
    step_down = {"moderate": "slight", "slight": "none", "grade_1_2": "none"}
    for _ in range(10 * len(frame) + 10):
        over = np.flatnonzero(scores > CHILD_PUGH_MAX)
        if not len(over):
            break
        i = int(over[0])
        touched = [i]
        if frame.at[i, "ascites"] != "none":
            frame.at[i, "ascites"] = step_down[frame.at[i, "ascites"]]
        elif frame.at[i, "encephalopathy"] != "none":
            frame.at[i, "encephalopathy"] = "none"
        else:
            bilirubin = frame["total_bilirubin_mg_dl"].to_numpy()
            donors = np.flatnonzero((bilirubin < 2) & (scores <= CHILD_PUGH_MAX - 2))
            j = int(donors[rng.integers(len(donors))])
            column = frame.columns.get_loc("total_bilirubin_mg_dl")
            frame.iat[i, column], frame.iat[j, column] = bilirubin[j], bilirubin[i]
            touched.append(j)
        scores[touched] = child_pugh_scores(frame, touched)
    frame["child_pugh_score"] = scores
    frame["child_pugh_grade"] = [grade_for_score(int(score)) for score in scores]


def _mask_missing(rng: np.random.Generator, frame: pd.DataFrame) -> None:
    """NULL (NaN here) for the paper's missing cases, as many below the median as above
    it (so the observed median stays Table I's) and never on the patients holding the
    minimum or maximum (so the observed range stays Table I's either)."""
    n = len(frame)
    for name, count in MISSING_COUNTS.items():
        k = scaled_count(count, n)
        values = frame[name].to_numpy()
        order = np.argsort(values, kind="stable")
        middle = n // 2
        below, above = order[1:middle], order[middle + 1 : n - 1]
        k = min(k, len(below) + len(above))
        if not k:
            continue
        first = below if rng.random() < 0.5 else above
        second = above if first is below else below
        take_first = min((k + 1) // 2, len(first))
        take_second = min(k - take_first, len(second))
        missing = np.concatenate(
            [
                rng.choice(first, size=take_first, replace=False),
                rng.choice(second, size=take_second, replace=False),
            ]
        )
        frame.loc[np.sort(missing), name] = np.nan


def _identities_and_dates(rng: np.random.Generator, frame: pd.DataFrame) -> None:
    n = len(frame)
    span = int((TACE_LAST - TACE_FIRST).astype(int))
    tace = np.sort(TACE_FIRST + days(rng.integers(0, span + 1, n)))
    tace = np.busday_offset(tace, 0, roll="forward")  # TACE on working days
    frame["tace_date"] = tace.astype("datetime64[D]")
    frame["consent_date"] = frame["tace_date"].to_numpy() - days(rng.integers(1, 15, n))
    frame["assessed_on"] = frame["tace_date"].to_numpy() - days(rng.integers(1, 8, n))
    miriplatin = (frame["tace_date"].to_numpy() >= MIRIPLATIN_FROM) & (rng.random(n) < 0.4)
    frame["anticancer_agent"] = np.where(miriplatin, "miriplatin", "epirubicin")
    frame["mitomycin_c"] = rng.random(n) < 0.9
    frame["lipiodol"] = True
    frame["gelatin_sponge_embolisation"] = rng.random(n) < 0.93

    last = rng.integers(len(LAST_NAMES), size=n)
    first = rng.integers(len(MALE_NAMES), size=n)
    frame["full_name"] = [
        f"{LAST_NAMES[surname]} {(MALE_NAMES if sex == 'M' else FEMALE_NAMES)[given]}"
        for surname, given, sex in zip(last, first, frame["sex"], strict=True)
    ]
    numbers = rng.choice(9_000_000, size=n, replace=False) + 1_000_000
    frame["hospital_number"] = [f"H{number:07d}" for number in numbers]
    birthday_offsets = rng.integers(0, 365, n)
    frame["date_of_birth"] = [
        _birth_date(consent, int(age), int(offset))
        for consent, age, offset in zip(
            frame["consent_date"].dt.date,
            frame["age_at_enrolment"],
            birthday_offsets,
            strict=True,
        )
    ]


def _birth_date(consent: dt.date, age: int, offset: int) -> dt.date:
    """A birth date at which the patient is exactly `age` on the consent date."""
    latest = _years_before(consent, age)  # turned `age` on this day at the latest
    earliest = _years_before(consent, age + 1) + dt.timedelta(days=1)
    return max(earliest, latest - dt.timedelta(days=offset))


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


# --------------------------------------------------------------------------- expression


def _expression(rng: np.random.Generator, frame: pd.DataFrame) -> None:
    """True ΔCq values per patient and timepoint (the wells add technical noise)."""
    n = len(frame)
    liver = frame["latent_liver"].to_numpy()
    injury = frame["latent_injury"].to_numpy()
    pt_own = frame["latent_pt"].to_numpy()
    diameter = frame["latent_diameter"].to_numpy()
    # Higher expression = lower ΔCq.
    mir122 = standardise(mix(rng, n, i=(injury, 0.44), d=(diameter, 0.32), l=(liver, -0.38)))
    mir21 = standardise(mix(rng, n, l=(liver, -0.42), p=(pt_own, 0.12), i=(injury, 0.2)))
    frame["dcq122_pre"] = MIR122_DCQ_PRE[0] - MIR122_DCQ_PRE[1] * np.clip(mir122, -3, 3)
    frame["dcq21_pre"] = MIR21_DCQ_PRE[0] - MIR21_DCQ_PRE[1] * np.clip(mir21, -3, 3)
    fall = np.array([MIR122_FALL[background] for background in frame["liver_background"]])
    frame["dcq122_post"] = frame["dcq122_pre"] + fall + MIR122_FALL_SD * rng.standard_normal(n)
    frame["dcq21_post"] = frame["dcq21_pre"] + MIR21_CHANGE_SD * rng.standard_normal(n)
    frame["mir122_ratio"] = frame["dcq122_post"] / frame["dcq122_pre"]


# --------------------------------------------------------------------------- survival


def _survival(rng: np.random.Generator, frame: pd.DataFrame) -> pd.DataFrame:
    """Times to HCC death, other death and loss; follow-up contacts every 6-12 months
    ending with the death, the loss, or 'alive' at the end of the study."""
    n = len(frame)
    cirrhosis = (frame["liver_background"] == "cirrhosis").to_numpy()
    ratio = frame["mir122_ratio"].to_numpy()
    low_ratio = np.zeros(n)
    if cirrhosis.sum() > 1:
        within = ratio[cirrhosis]
        low_ratio[cirrhosis] = -(within - within.mean()) / (within.std() or 1.0)
    # Hazards follow the true values (before PT and DCP go missing in the chart).
    lp = (
        LOG_HR["child_pugh_b"] * (frame["child_pugh_grade"] == "B").to_numpy()
        + LOG_HR["afp_over_20"] * (frame["afp_ng_ml"] > 20).to_numpy()
        + LOG_HR["dcp_over_40"] * (frame["dcp_mau_ml"] > 40).to_numpy()
        + LOG_HR["diameter_over_3"] * (frame["tumour_diameter_cm"] > 3).to_numpy()
        + LOG_HR["mir122_ratio_sd_in_cirrhosis"] * low_ratio
    )
    scale = _weibull_scale(lp, WEIBULL_SHAPE, MEDIAN_DSS_MONTHS * DAYS_PER_MONTH)
    hcc = scale * (rng.exponential(size=n) / np.exp(lp)) ** (1 / WEIBULL_SHAPE)
    other = rng.exponential(OTHER_DEATH_MEDIAN_MONTHS * DAYS_PER_MONTH / math.log(2), n)
    lost = rng.exponential(LOSS_MEDIAN_MONTHS * DAYS_PER_MONTH / math.log(2), n)
    hcc = np.maximum(np.round(hcc), 30).astype(int)
    other = np.maximum(np.round(other), 30).astype(int)
    lost = np.maximum(np.round(lost), 90).astype(int)
    tace = frame["tace_date"].to_numpy().astype("datetime64[D]")
    administrative = (STUDY_END - tace).astype(int)
    end = np.minimum.reduce([hcc, other, lost, administrative])
    outcome = np.select(
        [end == hcc, end == other, end == lost],
        ["hcc", "other", "lost"],
        default="alive",
    )
    frame["dss_days"] = end
    frame["dss_event"] = outcome == "hcc"
    frame["outcome"] = outcome

    # Contacts: a month after TACE, then every 6-12 months, strictly before the end.
    slots = int(administrative.max() // 180) + 2
    offsets = np.cumsum(
        np.column_stack([rng.integers(28, 43, n), rng.integers(180, 366, (n, slots - 1))]),
        axis=1,
    )
    before_end = offsets < end[:, None]
    patient_index, slot = np.nonzero(before_end)
    contacts = pd.DataFrame(
        {
            "patient": patient_index,
            "day": offsets[patient_index, slot],
            "status": "alive",
            "cause_of_death": "",
        }
    )
    status = np.select(
        [outcome == "hcc", outcome == "other", outcome == "lost"], ["dead", "dead", "lost"], "alive"
    )
    finals = pd.DataFrame(
        {
            "patient": np.arange(n),
            "day": end,
            "status": status,
            "cause_of_death": np.where(status == "dead", outcome, ""),
        }
    )
    follow_ups = pd.concat([contacts, finals], ignore_index=True)
    follow_ups = follow_ups.sort_values(["patient", "day"], kind="stable", ignore_index=True)
    follow_ups["contact_date"] = tace[follow_ups["patient"].to_numpy()] + days(
        follow_ups["day"].to_numpy()
    )
    return follow_ups


def _weibull_scale(lp: np.ndarray, shape: float, median_days: float) -> float:
    """The Weibull scale at which the cohort's marginal survival is 50 % at the median."""
    low, high = math.log(1.0), math.log(1e7)
    for _ in range(200):
        middle = (low + high) / 2
        survival = np.mean(np.exp(-np.exp(shape * (math.log(median_days) - middle) + lp)))
        low, high = (middle, high) if survival < 0.5 else (low, middle)
    return math.exp((low + high) / 2)


# --------------------------------------------------------------------------- samples


def _draws(rng: np.random.Generator, frame: pd.DataFrame) -> pd.DataFrame:
    """PRE on the TACE morning; POST mostly 6-8 days later, ~3 % outside 5-10 days."""
    n = len(frame)
    tace = frame["tace_date"].to_numpy().astype("datetime64[D]")
    post_days = rng.choice(
        np.array([5, 6, 7, 8, 9, 10]), size=n, p=[0.04, 0.22, 0.46, 0.22, 0.04, 0.02]
    )
    outside = rng.choice(n, size=scaled_count(2, n), replace=False)  # 3 % (2 of 75)
    post_days[outside] = rng.choice(np.array([3, 4, 11, 12, 14]), size=len(outside))
    pre_at = tace.astype("datetime64[m]") + minutes(rng.integers(6 * 60 + 30, 9 * 60 + 1, n))
    post_at = (tace + days(post_days)).astype("datetime64[m]") + minutes(
        rng.integers(7 * 60, 10 * 60 + 1, n)
    )
    draws = pd.DataFrame(
        {
            "patient": np.repeat(np.arange(n), 2),
            "timepoint": np.tile(np.array(["PRE", "POST"], dtype=object), n),
            "drawn_at": np.column_stack([pre_at, post_at]).ravel(),
        }
    )
    m = len(draws)
    draws["centrifuged_at"] = draws["drawn_at"].to_numpy() + minutes(rng.integers(30, 151, m))
    draws["frozen_at"] = draws["centrifuged_at"].to_numpy() + minutes(rng.integers(15, 61, m))
    draws["serum_volume_ul"] = rng.integers(100, 151, m) * 10
    # Drawn and discarded: the grades now come from _haemolysis (they must agree with
    # the haemolysis index), but this stream's later values (the spike-in Cqs) stay the
    # same only if the same random numbers are used up here.
    rng.choice(np.array(["none", "slight", "moderate"], dtype=object), size=m, p=[0.9, 0.08, 0.02])
    is_pre = draws["timepoint"].to_numpy() == "PRE"
    patient = draws["patient"].to_numpy()
    draws["dcq122"] = np.where(
        is_pre, frame["dcq122_pre"].to_numpy()[patient], frame["dcq122_post"].to_numpy()[patient]
    )
    draws["dcq21"] = np.where(
        is_pre, frame["dcq21_pre"].to_numpy()[patient], frame["dcq21_post"].to_numpy()[patient]
    )
    draws["spike_in_cq"] = np.clip(
        SPIKE_IN_CQ[0] + SPIKE_IN_CQ[1] * rng.standard_normal(m), 15.0, 21.5
    )
    return draws


def _storage(frame: pd.DataFrame, draws: pd.DataFrame):
    """Four 250 µl aliquots per draw, filled into 9 x 9 boxes in order; the first
    aliquot of each draw goes to exosome isolation (its position is then free)."""
    m = len(draws)
    study_ids = frame["study_id"].to_numpy()
    draw = np.repeat(np.arange(m), ALIQUOTS_PER_DRAW)
    number = np.tile(np.arange(1, ALIQUOTS_PER_DRAW + 1), m)
    slot = np.arange(len(draw))
    per_box = BOX_ROWS * BOX_COLUMNS
    box = slot // per_box
    within = slot % per_box
    aliquots = pd.DataFrame(
        {
            "barcode": [
                f"{study_ids[p]}-{tp}-{k:02d}"
                for p, tp, k in zip(
                    draws["patient"].to_numpy()[draw],
                    draws["timepoint"].to_numpy()[draw],
                    number,
                    strict=True,
                )
            ],
            "draw": draw,
            "number": number,
            "box": box,
            "row": within // BOX_COLUMNS + 1,
            "column": within % BOX_COLUMNS + 1,
            "checked_in_at": draws["frozen_at"].to_numpy()[draw],
            "consumed": number == 1,
        }
    )
    n_boxes = int(box.max()) + 1 if len(box) else 0
    box_index = np.arange(n_boxes)
    rack = box_index // BOXES_PER_RACK
    n_racks = int(rack.max()) + 1 if n_boxes else 0
    rack_index = np.arange(n_racks)
    freezer = rack_index // RACKS_PER_FREEZER
    n_freezers = int(freezer.max()) + 1 if n_racks else 0
    width = max(4, len(str(n_boxes)))
    boxes = pd.DataFrame(
        {
            "rack": rack,
            "name": [f"Box {b % BOXES_PER_RACK + 1:02d}" for b in box_index],
            "barcode": [f"{BOX_PREFIX}{b + 1:0{width}d}" for b in box_index],
        }
    )
    racks = pd.DataFrame(
        {
            "freezer": freezer,
            "name": [f"{RACK_PREFIX}{r % RACKS_PER_FREEZER + 1:02d}" for r in rack_index],
        }
    )
    freezers = pd.DataFrame({"name": [f"{FREEZER_PREFIX}{f + 1:02d}" for f in range(n_freezers)]})
    return aliquots, freezers, racks, boxes


def _processing(rng: np.random.Generator, frame: pd.DataFrame, draws: pd.DataFrame, aliquots):
    """ExoQuick batches of 24 (a patient's PRE and POST together), RNA the next working
    day, RT the same day, plates of 10 RT products the working day after."""
    m = len(draws)
    consumed = np.flatnonzero(aliquots["consumed"].to_numpy())  # one per draw, in draw order
    batch = np.arange(m) // BATCH_SIZE
    n_batches = int(batch.max()) + 1 if m else 0
    batch_day = np.busday_offset(EXTRACTION_START, np.arange(n_batches) // BATCHES_PER_DAY)
    width = max(4, len(str(n_batches)))
    batches = pd.DataFrame(
        {
            "code": [f"{BATCH_PREFIX}{b + 1:0{width}d}" for b in range(n_batches)],
            "performed_on": batch_day.astype("datetime64[D]"),
            "exoquick_lot": [f"EXOQ5A-{1704 + b // 10}" for b in range(n_batches)],
            "spike_in_lot": [
                f"MC10701-{2017 + b // 15:04d}{b // 15 % 9 + 1}" for b in range(n_batches)
            ],
        }
    )
    order_in_batch = np.arange(m) % BATCH_SIZE
    rna_day = np.busday_offset(batch_day[batch], 1)
    products = pd.DataFrame(
        {
            "draw": np.arange(m),
            "aliquot": consumed,
            "batch": batch,
            "consumed_at": batch_day[batch].astype("datetime64[m]")
            + minutes(9 * 60 + (batch % BATCHES_PER_DAY) * 150 + order_in_batch * 2),
            "rna_on": rna_day.astype("datetime64[D]"),
            "rna_kit_lot": [f"MV-{1612 + b // 8}" for b in batch],
            "rt_on": rna_day.astype("datetime64[D]"),
            "rt_kit_lot": [f"RT4366596-{1701 + b // 12}" for b in batch],
            "code": [rt_code(barcode, 1) for barcode in aliquots["barcode"].to_numpy()[consumed]],
        }
    )
    plate = np.arange(m) // PRODUCTS_PER_PLATE
    products["plate"] = plate
    products["slot"] = np.arange(m) % PRODUCTS_PER_PLATE
    n_plates = int(plate.max()) + 1 if m else 0
    plate_day = (
        pd.Series(products["rt_on"].to_numpy())
        .groupby(plate)
        .max()
        .to_numpy()
        .astype("datetime64[D]")
    )
    plate_day = np.busday_offset(plate_day, 1)
    nth_that_day = pd.Series(plate_day).groupby(plate_day).cumcount().to_numpy()
    width = max(4, len(str(n_plates)))
    plates = pd.DataFrame(
        {
            "barcode": [f"{PLATE_PREFIX}{p + 1:0{width}d}" for p in range(n_plates)],
            "run_at": plate_day.astype("datetime64[m]") + minutes(9 * 60 + 100 * nth_that_day),
            "panel": "mirna",
        }
    )
    wells = _wells(rng, draws, products, n_plates)
    return batches, products, plates, wells


def _wells(rng: np.random.Generator, draws, products, n_plates: int) -> pd.DataFrame:
    """Per RT product: 3 assays x 3 replicates; one NTC per assay and plate."""
    per_product = len(ASSAYS) * REPLICATES
    m = len(products)
    product = np.repeat(np.arange(m), per_product)
    assay = np.tile(np.repeat(np.arange(len(ASSAYS)), REPLICATES), m)
    replicate = np.tile(np.arange(1, REPLICATES + 1), m * len(ASSAYS))
    index = products["slot"].to_numpy()[product] * per_product + np.tile(np.arange(per_product), m)
    draw = products["draw"].to_numpy()[product]
    spike = draws["spike_in_cq"].to_numpy()[draw]
    delta = np.select(
        [assay == 0, assay == 1],
        [draws["dcq122"].to_numpy()[draw], draws["dcq21"].to_numpy()[draw]],
        0.0,
    )
    k = len(product)
    cq = spike + delta + REPLICATE_SD * rng.standard_normal(k)
    outlier = rng.random(k) < OUTLIER_RATE
    cq = cq + outlier * rng.uniform(*OUTLIER_SHIFT, k)
    undetermined = (rng.random(k) < UNDETERMINED_RATE) | (cq >= 45)  # a 45-cycle run
    cq = np.where(undetermined, np.nan, np.round(np.clip(cq, 5.0, 44.99), 2))
    samples = pd.DataFrame(
        {
            "plate": products["plate"].to_numpy()[product],
            "row": index // PLATE_COLUMNS + 1,
            "column": index % PLATE_COLUMNS + 1,
            "kind": "sample",
            "product": product,
            "assay": assay,
            "replicate": replicate,
            "cq": cq,
        }
    )
    # NTCs in H7-H9: usually nothing, now and then a late primer-dimer Cq.
    ntc_index = PRODUCTS_PER_PLATE * per_product + np.tile(np.arange(len(ASSAYS)), n_plates)
    j = len(ntc_index)
    late = rng.random(j) < NTC_LATE_RATE
    ntc_cq = np.where(late, np.round(rng.uniform(*NTC_LATE_CQ, j), 2), np.nan)
    controls = pd.DataFrame(
        {
            "plate": np.repeat(np.arange(n_plates), len(ASSAYS)),
            "row": ntc_index // PLATE_COLUMNS + 1,
            "column": ntc_index % PLATE_COLUMNS + 1,
            "kind": "ntc",
            "product": -1,
            "assay": np.tile(np.arange(len(ASSAYS)), n_plates),
            "replicate": 1,
            "cq": ntc_cq,
        }
    )
    wells = pd.concat([samples, controls], ignore_index=True)
    return wells.sort_values(["plate", "row", "column"], kind="stable", ignore_index=True)


# --------------------------------------------------------------------------- QC cases


def _haemolysis(rng: np.random.Generator, n: int, draws: pd.DataFrame) -> None:
    """Grade, A414 and the true haemolysis index of every draw, in agreement: a few
    draws high risk ('moderate', index > 7, A414 > 0.2), a few borderline ('slight',
    index 5-7), the rest 'none' with the index below 5; a third of those have an A414
    reading, the others none (NaN), as when the spectrophotometer was not at hand."""
    m = len(draws)
    n_high = min(scaled_count(HAEMOLYSED_DRAWS, n), m)
    n_borderline = min(scaled_count(BORDERLINE_DRAWS, n), m - n_high)
    chosen = rng.choice(m, size=n_high + n_borderline, replace=False)
    high, borderline = chosen[:n_high], chosen[n_high:]
    index = np.clip(
        HAEMOLYSIS_INDEX[0] + HAEMOLYSIS_INDEX[1] * rng.standard_normal(m),
        0.0,
        HAEMOLYSIS_INDEX_CLEAN_MAX,
    )
    index[borderline] = rng.uniform(*HAEMOLYSIS_INDEX_BORDERLINE, len(borderline))
    index[high] = rng.uniform(*HAEMOLYSIS_INDEX_HIGH, len(high))
    grade = np.full(m, "none", dtype=object)
    grade[borderline], grade[high] = "slight", "moderate"
    a414 = np.where(
        rng.random(m) < A414_MEASURED_FRACTION, np.round(rng.uniform(*A414_CLEAN, m), 3), np.nan
    )
    a414[borderline] = np.round(rng.uniform(*A414_BORDERLINE, len(borderline)), 3)
    a414[high] = np.round(rng.uniform(*A414_HAEMOLYSED, len(high)), 3)
    draws["haemolysis"] = grade
    draws["a414"] = a414
    draws["haemolysis_index"] = index
    draws["dcq23a"] = MIR23A_DCQ[0] + MIR23A_DCQ[1] * rng.standard_normal(m)


def _panel(rng: np.random.Generator, draws, products, plates) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The haemolysis-panel plates and their wells: every RT product, miR-23a-3p and
    miR-451a in triplicate, 15 products a plate, one NTC per assay (no amplification),
    run in the afternoon of the working day after its products' RT."""
    m = len(products)
    plate = np.arange(m) // PANEL_PRODUCTS_PER_PLATE
    n_plates = int(plate.max()) + 1 if m else 0
    plate_day = (
        pd.Series(products["rt_on"].to_numpy())
        .groupby(plate)
        .max()
        .to_numpy()
        .astype("datetime64[D]")
    )
    plate_day = np.busday_offset(plate_day, 1)
    nth_that_day = pd.Series(plate_day).groupby(plate_day).cumcount().to_numpy()
    width = max(4, len(str(n_plates)))
    panel_plates = pd.DataFrame(
        {
            "barcode": [
                f"{PLATE_PREFIX}{PANEL_PLATE_TAG}{p + 1:0{width}d}" for p in range(n_plates)
            ],
            "run_at": plate_day.astype("datetime64[m]") + minutes(13 * 60 + 100 * nth_that_day),
            "panel": "haemolysis",
        }
    )
    first_plate = len(plates)
    panel_assays = np.arange(len(ASSAYS), len(ALL_ASSAYS))
    per_product = len(panel_assays) * REPLICATES
    product = np.repeat(np.arange(m), per_product)
    assay = np.tile(np.repeat(panel_assays, REPLICATES), m)
    replicate = np.tile(np.arange(1, REPLICATES + 1), m * len(panel_assays))
    slot = np.arange(m) % PANEL_PRODUCTS_PER_PLATE
    index = slot[product] * per_product + np.tile(np.arange(per_product), m)
    draw = products["draw"].to_numpy()[product]
    mir23a = draws["spike_in_cq"].to_numpy()[draw] + draws["dcq23a"].to_numpy()[draw]
    true_cq = np.where(
        assay == panel_assays[0], mir23a, mir23a - draws["haemolysis_index"].to_numpy()[draw]
    )
    cq = np.round(true_cq + REPLICATE_SD * rng.standard_normal(len(product)), 2)
    samples = pd.DataFrame(
        {
            "plate": first_plate + plate[product],
            "row": index // PLATE_COLUMNS + 1,
            "column": index % PLATE_COLUMNS + 1,
            "kind": "sample",
            "product": product,
            "assay": assay,
            "replicate": replicate,
            "cq": cq,
        }
    )
    ntc_index = PANEL_PRODUCTS_PER_PLATE * per_product + np.tile(
        np.arange(len(panel_assays)), n_plates
    )
    controls = pd.DataFrame(
        {
            "plate": first_plate + np.repeat(np.arange(n_plates), len(panel_assays)),
            "row": ntc_index // PLATE_COLUMNS + 1,
            "column": ntc_index % PLATE_COLUMNS + 1,
            "kind": "ntc",
            "product": -1,
            "assay": np.tile(panel_assays, n_plates),
            "replicate": 1,
            "cq": np.nan,
        }
    )
    wells = pd.concat([samples, controls], ignore_index=True)
    return panel_plates, wells.sort_values(
        ["plate", "row", "column"], kind="stable", ignore_index=True
    )


def _qc_faults(rng: np.random.Generator, draws, products, plates, wells) -> None:
    """One miRNA plate whose NTCs all amplify (Cq 12.8-13.3: contamination, not a late
    primer-dimer), and one RT product on another plate whose spike-in failed: its
    cel-miR-39-3p replicates sit SPIKE_IN_FAILURE_SHIFT cycles above its batch's median,
    their spread kept, while its miRNAs keep their Cq (so they look falsely high)."""
    mirna_plates = np.flatnonzero(plates["panel"].to_numpy() == "mirna")
    contaminated = int(rng.choice(mirna_plates)) if len(mirna_plates) else -1
    if len(mirna_plates) > 1 and contaminated == mirna_plates[0]:
        # The first plate stays clean: it is the one a new user (and the import-safety
        # walk-through) opens first, as an example of a good run.
        contaminated = int(mirna_plates[1])
    ntc = (wells["kind"].to_numpy() == "ntc") & (wells["plate"].to_numpy() == contaminated)
    wells.loc[ntc, "cq"] = np.round(rng.uniform(*NTC_CONTAMINATION_CQ, int(ntc.sum())), 2)
    plates["ntc_contaminated"] = np.arange(len(plates)) == contaminated

    spike_assay = next(i for i, (_t, _id, role) in enumerate(ASSAYS) if role == "spike_in")
    is_spike = (wells["assay"].to_numpy() == spike_assay) & (wells["kind"].to_numpy() == "sample")
    spike_wells = wells.loc[is_spike]
    all_read = spike_wells.groupby("product")["cq"].apply(lambda cq: bool(cq.notna().all()))
    haemolysed = draws["haemolysis"].to_numpy()[products["draw"].to_numpy()] != "none"
    candidates = [
        k
        for k in range(len(products))
        if all_read.get(k, False) and not haemolysed[k] and products["plate"].iat[k] != contaminated
    ]
    products["spike_in_failed"] = False
    if not candidates:  # a cohort too small for the case
        return
    failed = int(rng.choice(candidates))
    draw = int(products["draw"].iat[failed])
    peers = products["draw"].to_numpy()[
        products["batch"].to_numpy() == products["batch"].iat[failed]
    ]
    spike = draws["spike_in_cq"].to_numpy()
    reference = float(np.median(spike[peers[peers != draw]])) if len(peers) > 1 else spike[draw]
    rows = is_spike & (wells["product"].to_numpy() == failed)
    shift = reference + SPIKE_IN_FAILURE_SHIFT - spike[draw]
    wells.loc[rows, "cq"] = np.round(wells.loc[rows, "cq"].to_numpy() + shift, 2)
    products.loc[failed, "spike_in_failed"] = True


def _standards(rng: np.random.Generator, plates: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The standard-curve plates and their wells: every assay's dilution series in
    triplicate (assay by assay, row by row), Cq = intercept - log10(copies)/log10(1 + E)
    plus replicate noise; run on the morning of the first and of the last sample run's
    day. Their wells hold no RT product: they never reach the cohort or the paper's
    numbers (biobank.selectors.wells.wells_frame leaves standards out)."""
    runs = pd.to_datetime(plates["run_at"]).sort_values().to_numpy()
    days = [runs[0], runs[-1]] if len(runs) else []
    days = [np.datetime64(d, "D") for d in days][:STANDARD_RUNS]
    width = 4
    standard_plates = pd.DataFrame(
        {
            "barcode": [
                f"{PLATE_PREFIX}{STANDARD_PLATE_TAG}{p + 1:0{width}d}" for p in range(len(days))
            ],
            "run_at": [d.astype("datetime64[m]") + np.timedelta64(8 * 60, "m") for d in days],
            "panel": "standards",
        }
    )
    rows = []
    per_assay = len(STANDARD_COPIES) * REPLICATES
    for p in range(len(days)):
        for a, (target, _id, _role) in enumerate(ALL_ASSAYS):
            slope = -1.0 / np.log10(1.0 + STANDARD_EFFICIENCY[target])
            for level, copies in enumerate(STANDARD_COPIES):
                for r in range(REPLICATES):
                    index = a * per_assay + level * REPLICATES + r
                    rows.append((len(plates) + p, index, a, r + 1, copies, slope))
    frame = pd.DataFrame(
        rows, columns=["plate", "index", "assay", "replicate", "quantity", "slope"]
    )
    noise = STANDARD_SD * rng.standard_normal(len(frame))
    cq = STANDARD_CQ_AT_ONE_COPY + frame["slope"] * np.log10(frame["quantity"]) + noise
    wells = pd.DataFrame(
        {
            "plate": frame["plate"].to_numpy(),
            "row": frame["index"].to_numpy() // PLATE_COLUMNS + 1,
            "column": frame["index"].to_numpy() % PLATE_COLUMNS + 1,
            "kind": "standard",
            "product": -1,
            "assay": frame["assay"].to_numpy(),
            "replicate": frame["replicate"].to_numpy(),
            "cq": np.round(cq.to_numpy(), 2),
            "quantity": frame["quantity"].to_numpy(),
        }
    )
    return standard_plates, wells


# --------------------------------------------------------------------------- entry point


def generate_cohort(n: int = DEFAULT_PATIENTS, seed: int = DEFAULT_SEED) -> Cohort:
    """The whole synthetic cohort for n patients from one seed (pure, no database)."""
    if n < 1:
        raise ValueError("A cohort needs at least one patient")
    # One independent stream per stage (children of the seed), so that a change in one
    # stage does not reshuffle the others.
    # Streams 7-9 (the QC cases) were added later: spawning more children leaves the
    # first seven as they were, so the earlier stages' values did not change.
    # Stream 10 (the standard curves) likewise came later still.
    streams = [np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(11)]
    patients = _baseline(streams[0], n)
    _identities_and_dates(streams[1], patients)
    _expression(streams[2], patients)
    follow_ups = _survival(streams[3], patients)
    _mask_missing(streams[4], patients)
    draws = _draws(streams[5], patients)
    aliquots, freezers, racks, boxes = _storage(patients, draws)
    batches, products, plates, wells = _processing(streams[6], patients, draws, aliquots)
    _haemolysis(streams[7], n, draws)
    panel_plates, panel_wells = _panel(streams[8], draws, products, plates)
    plates = pd.concat([plates, panel_plates], ignore_index=True)
    wells = pd.concat([wells, panel_wells], ignore_index=True)
    _qc_faults(streams[9], draws, products, plates, wells)
    standard_plates, standard_wells = _standards(streams[10], plates)
    standard_plates["ntc_contaminated"] = False
    plates = pd.concat([plates, standard_plates], ignore_index=True)
    wells = pd.concat([wells, standard_wells], ignore_index=True)
    return Cohort(
        n=n,
        seed=seed,
        patients=patients,
        follow_ups=follow_ups,
        draws=draws,
        aliquots=aliquots,
        freezers=freezers,
        racks=racks,
        boxes=boxes,
        batches=batches,
        products=products,
        plates=plates,
        wells=wells,
    )
