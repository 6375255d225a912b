"""Cox models: R survival reference values (lung, veteran, ovarian, rossi; Efron and
Breslow; tests/analysis/r/cox_reference.R), Firth, codings, synthetic truth, warnings."""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.stats.cox import CoxTerm, cox_multivariate, cox_univariate, encode_terms

R_DIR = Path(__file__).parent / "r"
REFERENCE = json.loads((R_DIR / "cox_reference.json").read_text())
SURVIVAL_COLUMNS = {
    "lung": ("time", "status"),
    "veteran": ("time", "status"),
    "ovarian": ("futime", "fustat"),
    "rossi": ("week", "arrest"),
}

# R: coxph(Surv(week, arrest) ~ fin + age + race + wexp + mar + paro + prio, data = rossi)
# (Efron ties, R's default)
R_ROSSI = {
    "fin": -0.3794222,
    "age": -0.0574377,
    "race": 0.3138998,
    "wexp": -0.1497957,
    "mar": -0.4337039,
    "paro": -0.0848711,
    "prio": 0.0914971,
}


def test_rossi_multivariate_coefficients_match_r():
    model = cox_multivariate(_r_dataset("rossi"), "week", "arrest", list(R_ROSSI))
    assert model.n == 432 and model.events == 114
    assert model.events_per_variable == pytest.approx(114 / 7)
    assert model.converged
    for name, coef in R_ROSSI.items():
        est = model.estimate(name)
        assert est.coef == pytest.approx(coef, abs=1e-6), name
        assert est.hr == pytest.approx(np.exp(coef), rel=1e-5)
        assert est.ci_low < est.hr < est.ci_high
        assert est.ci_low == pytest.approx(np.exp(est.coef - 1.959964 * est.se), rel=1e-6)
    # R: fin se 0.1914, p 0.0474; prio p 0.0014
    assert model.estimate("fin").se == pytest.approx(0.1914, abs=1e-4)
    assert model.estimate("fin").p == pytest.approx(0.0474, abs=1e-4)
    assert model.estimate("prio").p == pytest.approx(0.0014, abs=1e-4)
    # R: likelihood ratio test = 33.27 on 7 df
    assert model.lr_chisq == pytest.approx(33.27, abs=0.01) and model.lr_df == 7
    assert all(est.ph_p is not None for est in model.estimates)
    # age violates proportional hazards in rossi (a classic example)
    assert model.estimate("age").ph_p < 0.05
    assert any("proportional hazards doubtful" in w for w in model.estimate("age").warnings)
    json.dumps(model.to_dict(), allow_nan=False)


def test_univariate_models_use_their_own_complete_cases():
    df = _r_dataset("rossi")
    df.loc[:9, "age"] = np.nan
    table = cox_univariate(df, "week", "arrest", ["fin", "age"])
    assert [m.n for m in table.models] == [432, 422]
    frame = table.to_frame()
    assert list(frame["variable"]) == ["fin", "age"]
    assert frame.loc[0, "hr"] == pytest.approx(table.models[0].estimates[0].hr)
    json.dumps(table.to_dict(), allow_nan=False)


def test_codings_cutoff_median_level_and_low_is_one():
    df = pd.DataFrame(
        {
            "t": [1.0, 2, 3, 4, 5, 6],
            "e": [1, 0, 1, 1, 0, 1],
            "afp": [10.0, 25, 20, 300, np.nan, 5],
            "grade": ["A", "B", "A", "B", "A", "A"],
            "ratio": [0.5, 0.9, 0.7, 1.2, 0.8, 0.6],
        }
    )
    design, codings = encode_terms(
        df,
        "t",
        "e",
        [
            CoxTerm("afp", cutoff=20),
            CoxTerm("grade", level="B"),
            CoxTerm("ratio", at_median=True, low_is_one=True, label="low ratio"),
        ],
    )
    assert len(design) == 5  # the row without AFP is out
    assert design["afp"].tolist() == [0, 1, 0, 1, 0]  # '>' 20 = 1; 20 itself is 0
    assert design["grade"].tolist() == [0, 1, 0, 1, 0]
    # median of the complete cases 0.5, 0.9, 0.7, 1.2, 0.6 is 0.7; <= 0.7 -> 1
    assert codings["low ratio"][0] == pytest.approx(0.7)
    assert design["low ratio"].tolist() == [1, 0, 1, 0, 1]
    assert codings["afp"] == (20.0, "afp > 20 (1) vs <= (0)")
    assert codings["low ratio"][1] == "ratio <= 0.7 (median) (1) vs > (0)"


def _synthetic_cohort(n=300, seed=2):
    """The lower group dies three times as fast (true HR 3)."""
    rng = np.random.default_rng(seed)
    ratio = rng.uniform(0.3, 1.5, n)
    low = ratio <= np.median(ratio)
    death = rng.exponential(np.where(low, 10.0, 30.0))
    censor = rng.uniform(10, 60, n)
    return pd.DataFrame(
        {
            "months": np.minimum(death, censor),
            "dead": (death <= censor).astype(int),
            "ratio": ratio,
            "noise": rng.normal(size=n),
        }
    )


def test_lower_group_with_worse_survival_gives_hr_above_one():
    df = _synthetic_cohort()
    model = cox_multivariate(
        df, "months", "dead", [CoxTerm("ratio", at_median=True, low_is_one=True)]
    )
    est = model.estimates[0]
    assert est.hr > 1 and est.ci_low > 1
    assert est.hr == pytest.approx(3.0, rel=0.35)
    assert est.p < 1e-6
    assert model.lr_p < 1e-6
    assert est.n_exposed == 150
    assert not model.warnings
    # the other coding gives the reciprocal hazard ratio
    flipped = cox_multivariate(df, "months", "dead", [CoxTerm("ratio", at_median=True)])
    assert flipped.estimates[0].hr == pytest.approx(1 / est.hr, rel=1e-6)


def test_under_powered_model_warns_but_reports():
    df = _synthetic_cohort(n=40, seed=3)
    df["dead"] = 0
    df.loc[df.index[:6], "dead"] = 1  # 6 events, 2 variables -> 3 per variable
    model = cox_multivariate(df, "months", "dead", ["ratio", "noise"])
    assert model.events_per_variable == pytest.approx(3.0)
    assert any("under-powered" in w for w in model.warnings)
    assert model.estimate("noise").hr is not None


def test_separation_returns_warnings_not_numbers():
    rng = np.random.default_rng(0)
    group = np.r_[np.zeros(20), np.ones(20)]
    df = pd.DataFrame(
        {
            "t": rng.exponential(10, 40),
            "e": (group == 1).astype(int),
            "high": group,
            "noise": rng.normal(size=40),
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may leak out of the function either
        uni = cox_univariate(df, "t", "e", ["high"])
        multi = cox_multivariate(df, "t", "e", ["high", "noise"])
    est = uni.models[0].estimates[0]
    # the default (firth: auto) answers with Firth's penalised estimates and says why
    assert uni.models[0].firth and "every event is in the group coded 1" in (
        uni.models[0].firth_reason
    )
    assert est.hr > 1 and est.ci_low > 1 and est.p < 0.05
    assert est.ci_method == "profile penalised likelihood"
    assert multi.firth and multi.estimate("high").hr > 1
    json.dumps(uni.to_dict(), allow_nan=False)
    json.dumps(multi.to_dict(), allow_nan=False)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain = cox_univariate(df, "t", "e", ["high"], firth="never")
        plain_multi = cox_multivariate(df, "t", "e", ["high", "noise"], firth="never")
    est = plain.models[0].estimates[0]
    assert est.hr is None and est.p is None and est.ci_low is None
    assert "complete separation" in est.warnings[0]
    assert not plain.models[0].converged and not plain.models[0].firth
    assert plain_multi.estimate("high").hr is None
    assert plain_multi.warnings
    json.dumps(plain.to_dict(), allow_nan=False)


def test_constant_variable_and_too_few_rows_and_no_events():
    df = _synthetic_cohort(n=30)
    df["all_male"] = 1
    model = cox_multivariate(df, "months", "dead", ["all_male", "noise"])
    assert model.estimate("all_male").hr is None
    assert "constant" in model.estimate("all_male").warnings[0]
    assert model.estimate("noise").hr is not None  # fitted without the constant one

    tiny = cox_multivariate(df.head(3), "months", "dead", ["ratio", "noise"])
    assert tiny.estimates[0].hr is None and tiny.warnings

    no_events = cox_multivariate(df.assign(dead=0), "months", "dead", ["ratio"])
    assert no_events.estimates[0].hr is None
    assert any("no events" in w for w in no_events.warnings)

    empty = cox_univariate(df.iloc[0:0], "months", "dead", ["ratio"])
    assert empty.models[0].n == 0 and empty.models[0].warnings


def test_duplicate_term_names_are_refused():
    with pytest.raises(ValueError, match="distinct"):
        cox_multivariate(_synthetic_cohort(), "months", "dead", ["ratio", "ratio"])


def test_level_list_codes_any_of_the_levels():
    df = pd.DataFrame({"t": [1.0, 2, 3, 4], "e": [1, 0, 1, 1], "bclc": ["0", "A", "B", "C"]})
    design, codings = encode_terms(df, "t", "e", [CoxTerm("bclc", level=["B", "C"])])
    assert design["bclc"].tolist() == [0, 0, 1, 1]
    assert codings["bclc"][1] == "bclc in ['B', 'C'] (1) vs other (0)"


def _r_dataset(name: str) -> pd.DataFrame:
    frame = pd.read_csv(R_DIR / f"{name}.csv")
    if name == "lung":
        frame["status"] = frame["status"] - 1  # R's Surv() reads 1/2 as censored/dead
    return frame


def _models(kind: str):
    return [
        pytest.param(entry[kind], id=f"{entry['dataset']}-{'+'.join(np.atleast_1d(entry[kind]['terms']))}-{entry[kind]['ties']}")
        for entry in REFERENCE
        if kind in entry
    ]  # fmt: skip


def _fit_reference(reference, dataset, **options):
    time, event = SURVIVAL_COLUMNS[dataset]
    terms = list(np.atleast_1d(reference["terms"]))
    return cox_multivariate(_r_dataset(dataset), time, event, terms, ties=reference["ties"],
                            **options)  # fmt: skip


DATASET_OF = {id(entry["model"]): entry["dataset"] for entry in REFERENCE if "model" in entry}


@pytest.mark.parametrize("reference", _models("model"))
def test_models_equal_r_survival(reference):
    """coxph, summary(coxph), concordance and cox.zph of R survival 3.5-3, both ties."""
    model = _fit_reference(reference, DATASET_OF[id(reference)])
    assert model.ties == reference["ties"] and model.converged and not model.firth
    assert (model.n, model.events) == (reference["n"], reference["events"])
    ests = model.estimates
    assert [e.coef for e in ests] == pytest.approx(np.atleast_1d(reference["coef"]), abs=1e-7)
    assert [e.se for e in ests] == pytest.approx(np.atleast_1d(reference["se"]), abs=1e-8)
    assert [e.z for e in ests] == pytest.approx(np.atleast_1d(reference["z"]), abs=1e-6)
    assert [e.p for e in ests] == pytest.approx(np.atleast_1d(reference["p"]), abs=1e-7)
    assert [e.ci_low for e in ests] == pytest.approx(
        np.atleast_1d(reference["wald_ci_low"]), rel=1e-7
    )
    assert [e.ci_high for e in ests] == pytest.approx(
        np.atleast_1d(reference["wald_ci_high"]), rel=1e-7
    )
    assert {e.ci_method for e in ests} == {"Wald"}
    assert model.log_likelihood_null == pytest.approx(reference["loglik"][0], abs=1e-9)
    assert model.log_likelihood == pytest.approx(reference["loglik"][1], abs=1e-9)
    for test in ("lr", "wald", "score"):
        chisq, df, p = reference[test]
        assert getattr(model, f"{test}_chisq") == pytest.approx(chisq, abs=1e-5), test
        assert getattr(model, f"{test}_df") == df
        assert getattr(model, f"{test}_p") == pytest.approx(p, abs=1e-7), test
    assert model.concordance == pytest.approx(reference["concordance"], abs=1e-12)
    zph_chisq, zph_p = np.atleast_1d(reference["zph_chisq"]), np.atleast_1d(reference["zph_p"])
    assert [e.ph_chisq for e in ests] == pytest.approx(zph_chisq[:-1], abs=1e-6)
    assert [e.ph_p for e in ests] == pytest.approx(zph_p[:-1], abs=1e-7)
    assert model.ph_global_chisq == pytest.approx(zph_chisq[-1], abs=1e-6)
    assert model.ph_global_df == len(ests)
    assert model.ph_global_p == pytest.approx(zph_p[-1], abs=1e-7)
    json.dumps(model.to_dict(), allow_nan=False)  # fmt: skip


@pytest.mark.parametrize("reference", _models("model"))
def test_profile_likelihood_intervals_equal_r(reference):
    """R: the other coefficients re-maximised with the profiled one as an offset, uniroot."""
    model = _fit_reference(reference, DATASET_OF[id(reference)], ci="profile")
    assert model.ci_method == "profile"
    lows, highs = [e.ci_low for e in model.estimates], [e.ci_high for e in model.estimates]
    assert lows == pytest.approx(np.atleast_1d(reference["profile_ci_low"]), rel=1e-8)
    assert highs == pytest.approx(np.atleast_1d(reference["profile_ci_high"]), rel=1e-8)
    assert {e.ci_method for e in model.estimates} == {"profile likelihood"}
    # same point estimates and Wald P whichever interval is asked for
    assert [e.coef for e in model.estimates] == pytest.approx(
        np.atleast_1d(reference["coef"]), abs=1e-7
    )
    assert [e.p for e in model.estimates] == pytest.approx(np.atleast_1d(reference["p"]), abs=1e-7)  # fmt: skip


def test_reference_covers_the_datasets_both_ties_and_multivariate_models():
    seen = {(e["dataset"], e["model"]["ties"], len(np.atleast_1d(e["model"]["terms"])) > 1)
            for e in REFERENCE if "model" in e}  # fmt: skip
    for dataset in SURVIVAL_COLUMNS:
        for ties in ("efron", "breslow"):
            assert {(dataset, ties, False), (dataset, ties, True)} <= seen


@pytest.mark.parametrize("reference", _models("firth"))
def test_firth_equals_penalised_likelihood_maximised_in_r(reference):
    """R maximises coxph's log-likelihood + ½·log|I(β)| (its own information) with optim:
    an independent computation of Heinze & Schemper's penalised likelihood."""
    frame = _r_dataset("firth")
    terms = list(np.atleast_1d(reference["terms"]))
    model = cox_multivariate(frame, "time", "status", terms, ties=reference["ties"])
    assert model.firth and "every event is in the group coded 1" in model.firth_reason
    assert model.converged
    coefs = [e.coef for e in model.estimates]
    assert coefs == pytest.approx(np.atleast_1d(reference["coef"]), abs=1e-6)
    assert model.log_likelihood == pytest.approx(reference["loglik"], abs=1e-8)
    if len(terms) == 1:
        est = model.estimates[0]
        assert est.ci_method == "profile penalised likelihood"
        assert est.ci_low == pytest.approx(reference["ci_low"], rel=1e-6)
        assert est.ci_high == pytest.approx(reference["ci_high"], rel=1e-6)
        assert est.p_method == "penalised likelihood ratio"
        assert est.p == pytest.approx(reference["p"], rel=1e-6)
        assert model.log_likelihood_null == pytest.approx(reference["loglik_null"], abs=1e-8)
    # asked for, Firth is used on data without separation too, and says so
    forced = cox_multivariate(frame, "time", "status", ["z"], firth="always")
    assert forced.firth and forced.firth_reason == "asked for (firth: always)"
    assert cox_multivariate(frame, "time", "status", ["z"]).firth is False


def test_event_column_not_coded_0_1_is_refused_with_its_values():
    lung = pd.read_csv(R_DIR / "lung.csv")
    with pytest.raises(ValueError, match=r"event column 'status' has value\(s\) 2"):
        cox_multivariate(lung, "time", "status", ["age"])


def test_cut_points_say_whether_they_were_pre_specified_or_data_derived():
    df = _synthetic_cohort()
    model = cox_multivariate(
        df, "months", "dead",
        [CoxTerm("ratio", at_median=True, label="ratio median"),
         CoxTerm("ratio", cutoff=0.9, label="ratio 0.9"), "noise"],
    )  # fmt: skip
    sources = {e.variable: e.cutoff_source for e in model.estimates}
    assert sources == {"ratio median": "data-derived", "ratio 0.9": "pre-specified", "noise": None}
    assert model.estimate("ratio median").coding.endswith("(median) (1) vs <= (0)")


def test_confidence_level_and_option_checks():
    df = _synthetic_cohort()
    wide = cox_multivariate(df, "months", "dead", ["noise"], confidence=0.99).estimates[0]
    usual = cox_multivariate(df, "months", "dead", ["noise"]).estimates[0]
    assert wide.ci_low < usual.ci_low and wide.ci_high > usual.ci_high
    assert wide.ci_high == pytest.approx(np.exp(wide.coef + 2.5758293 * wide.se), rel=1e-6)
    with pytest.raises(ValueError, match="ties must be one of efron, breslow"):
        cox_multivariate(df, "months", "dead", ["noise"], ties="exact")


def test_engine_fits_with_the_run_options_and_reports_the_details():
    from analysis.engine import RunContext, _cox
    from analysis.options import resolve_options

    plan = {"time": "week", "event": "arrest", "options": {"preset": "JMP"}}
    spec = {
        "name": "table4",
        "kind": "cox",
        "terms": [{"column": "fin"}, {"column": "age", "cutoff": "median"},
                  {"column": "prio", "cutoff": 3}],
        "multivariate": ["fin", "prio"],
    }  # fmt: skip
    context = RunContext(plan, resolve_options(plan))
    payload, rows = _cox(spec, _r_dataset("rossi"), context)
    assert payload["options"] == {"ties": "breslow", "ci": "profile", "firth": "auto",
                                  "confidence": 0.95}  # fmt: skip
    fin = next(r for r in rows if r["analysis"] == "table4 univariate" and r["variable"] == "fin")
    r_fin = next(e["model"] for e in REFERENCE if "model" in e and e["dataset"] == "rossi"
                 and e["model"]["terms"] == ["fin"] and e["model"]["ties"] == "breslow")  # fmt: skip
    details = fin["details"]
    assert details["coef"] == pytest.approx(r_fin["coef"], abs=1e-7)
    assert details["se"] == pytest.approx(r_fin["se"], abs=1e-8)
    assert details["ties"] == "breslow" and details["ci_method"] == "profile likelihood"
    assert fin["ci_low"] == pytest.approx(r_fin["profile_ci_low"], rel=1e-8)
    assert details["lr_chisq"] == pytest.approx(r_fin["lr"][0], abs=1e-6)
    assert details["score_p"] == pytest.approx(r_fin["score"][2], abs=1e-8)
    assert details["concordance"] == pytest.approx(r_fin["concordance"], abs=1e-12)
    assert details["firth"] is False and details["cutoff_source"] is None
    by_variable = {
        r["variable"]: r["details"] for r in rows if r["analysis"] == "table4 univariate"
    }
    assert by_variable["age"]["cutoff_source"] == "data-derived"
    assert by_variable["age"]["cutoff"] == pytest.approx(_r_dataset("rossi")["age"].median())
    assert by_variable["prio"]["cutoff_source"] == "pre-specified"
    assert by_variable["prio"]["cutoff"] == 3
    multivariate = [r for r in rows if r["analysis"] == "table4 multivariate"]
    assert [r["variable"] for r in multivariate] == ["fin", "prio"]
    assert multivariate[0]["details"]["lr_df"] == 2
    assert payload["multivariate"]["ties"] == "breslow"
    json.dumps(payload, allow_nan=False)


# firthmodels 0.8.2 (PyPI, MIT; Breslow ties only; FirthCoxPH(gtol=1e-10, xtol=1e-12)),
# rossi, all seven variables: coef_, conf_int(method="pl") and lrt() P where it gave one.
FIRTHMODELS_ROSSI = {
    "coef": [-0.37573398847822126, -0.05527500172562638, 0.2780307644678181,
             -0.15157445289571547, -0.3860026818408056, -0.08777097305644878,
             0.09275220914787732],
    "loglik": -644.5849526524596,
    "ci": [(-0.753723197488813, -0.004921157224324689),
           (-0.10061617310930561, -0.014792042878081876),
           (-0.2748854285779886, 0.9204477651887015),
           (-0.5694882394449582, 0.26081742770840155),
           (-1.1878263030478802, 0.2878541422142106),
           (-0.46641084131339344, 0.29955930486503535),
           (0.03460647828068878, 0.14647976572879645)],
    "lrt_p": {"fin": 0.04702405189334986, "age": 0.006261234763879293,
              "wexp": 0.4723771076956528, "paro": 0.6533291327318098},
}  # fmt: skip


def test_firth_equals_firthmodels_on_rossi():
    """An independent implementation of Heinze & Schemper's penalised Cox (Breslow)."""
    model = cox_multivariate(
        _r_dataset("rossi"), "week", "arrest", list(R_ROSSI), ties="breslow", firth="always"
    )
    assert model.firth and model.converged
    assert [e.coef for e in model.estimates] == pytest.approx(FIRTHMODELS_ROSSI["coef"], abs=1e-9)
    assert model.log_likelihood == pytest.approx(FIRTHMODELS_ROSSI["loglik"], abs=1e-9)
    lows, highs = zip(*FIRTHMODELS_ROSSI["ci"], strict=True)
    assert [e.ci_low for e in model.estimates] == pytest.approx(np.exp(lows), rel=1e-7)
    assert [e.ci_high for e in model.estimates] == pytest.approx(np.exp(highs), rel=1e-7)
    for name, p in FIRTHMODELS_ROSSI["lrt_p"].items():
        assert model.estimate(name).p == pytest.approx(p, rel=1e-8), name


def test_text_event_column_is_refused_not_dropped():
    df = _synthetic_cohort(n=20).assign(status=lambda f: np.where(f["dead"] == 1, "dead", "alive"))
    with pytest.raises(ValueError, match=r"event column 'status' has value\(s\) '(dead|alive)'"):
        cox_multivariate(df, "months", "status", ["noise"])
    # booleans are 0/1
    flagged = df.assign(died=df["dead"] == 1)
    assert cox_multivariate(flagged, "months", "died", ["noise"]).events == int(df["dead"].sum())


def test_concordance_equals_the_pairwise_definition_with_ties():
    """R's rule pair by pair: comparable when the shorter time is a death (a censored time
    equal to a death time is longer); ties in time are not comparable, in risk count ½."""
    from analysis.stats._coxfit import CoxData, concordance

    rng = np.random.default_rng(5)
    time = rng.integers(1, 15, 200).astype(float)
    event = rng.random(200) < 0.6
    x = rng.integers(0, 5, (200, 2)).astype(float)
    beta = np.array([0.5, -0.25])  # binary fractions: risk ties are exact
    risk = x @ beta
    good = tied = total = 0.0
    for i in np.flatnonzero(event):
        later = (time > time[i]) | ((time == time[i]) & ~event)
        total += later.sum()
        good += (later & (risk[i] > risk)).sum()
        tied += (later & (risk[i] == risk)).sum()
    expected = (good + tied / 2) / total
    assert concordance(CoxData(time, event, x), beta) == pytest.approx(expected, abs=1e-12)


def test_monotone_likelihood_of_a_continuous_variable_is_detected():
    """Each death has the highest x of its risk set: the MLE of x is infinite although no
    0/1 split shows it; firth auto notices the divergence and refits."""
    t = np.arange(1, 31, dtype=float)
    df = pd.DataFrame({"t": t, "e": np.r_[np.ones(15), np.zeros(15)], "x": -t, "z": np.sin(t)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        auto = cox_multivariate(df, "t", "e", ["x", "z"])
        plain = cox_multivariate(df, "t", "e", ["x", "z"], firth="never")
    assert auto.firth and "'x': the estimate runs off" in auto.firth_reason
    assert "'z'" not in auto.firth_reason
    assert auto.estimate("x").coef > 0 and auto.estimate("z").coef is not None
    assert plain.estimate("x").hr is None and "runs off" in plain.estimate("x").warnings[0]
    assert plain.estimate("z").se > 0 and not plain.converged
    assert any("not estimable: x" in w for w in plain.warnings)
    json.dumps(auto.to_dict(), allow_nan=False)


def test_engine_cox_without_usable_rows_is_an_error():
    from analysis.engine import RunContext, _cox

    frame = _r_dataset("rossi").assign(prio=np.nan)
    spec = {"name": "t4", "kind": "cox", "terms": [{"column": "prio"}]}
    with pytest.raises(ValueError, match="t4: no usable rows: none of the 432 row"):
        _cox(spec, frame, RunContext({"time": "week", "event": "arrest"}))
    # one usable term is enough: the empty one is that model's warning
    spec["terms"].append({"column": "fin"})
    payload, rows = _cox(spec, frame, RunContext({"time": "week", "event": "arrest"}))
    assert [m["n"] for m in payload["univariate"]] == [0, 432]
    assert "no complete rows" in rows[0]["warnings"][0]
