"""The statistical options a plan runs with, and the presets that set them together (pure).

Two programs a reader is likely to compare with make different default choices, and a
paper analysed in one should be reproducible the way its authors ran it:

* ``"R"`` (R survival, the default): Efron ties, Wald HR intervals, Kaplan-Meier
  intervals on the log scale (``conf.type="log"``) and R's median rule
  (``quantile.survfit``: a median that is never reached is "not reached").
* ``"JMP"`` (JMP's Fit Proportional Hazards and Survival platforms): Breslow ties and
  profile-likelihood HR intervals (JMP's default; the seed paper's Table IV), and the
  Kaplan-Meier conventions of SAS PROC LIFETEST, which JMP's Survival platform follows:
  log-log pointwise intervals and SAS's median rule (analysis.stats.survival).

A plan names a preset and may override any single option::

    "options": {"preset": "JMP", "km_ci": "log-log"}

Every run stores the options it resolved (``AnalysisRun.options``), so a number in a
report can say how it was made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace

CHOICES: dict[str, tuple] = {
    "ties": ("efron", "breslow"),
    "hr_ci": ("wald", "profile"),
    "km_ci": ("log", "log-log", "plain"),
    "median": ("r", "sas", "lifelines"),
    "firth": ("auto", "always", "never"),
    "multiplicity": ("bh", "none"),
}


@dataclass(frozen=True)
class AnalysisOptions:
    """Resolved options. ``confidence`` is the level of every interval; ``firth`` says
    when the Firth-penalised Cox fit replaces the ordinary one ("auto": when separation
    is detected); ``multiplicity`` adds Benjamini-Hochberg q-values per family."""

    preset: str = "R"
    ties: str = "efron"
    hr_ci: str = "wald"
    km_ci: str = "log"
    median: str = "r"
    firth: str = "auto"
    multiplicity: str = "bh"
    confidence: float = 0.95

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, AnalysisOptions] = {
    "R": AnalysisOptions(),
    # Kaplan-Meier: JMP's "Statistical Reports for Survival Analysis" sends readers to the
    # SAS/STAT User's Guide (PROC LIFETEST) for how its Summary and Quantiles are computed
    # (https://www.jmp.com/support/help/13-2/Statistical_Reports_for_Survival_Analysis.shtml).
    # PROC LIFETEST's default CONFTYPE is LOGLOG, and it takes the median as the midpoint
    # rule with Brookmeyer-Crowley limits from that band
    # (https://support.sas.com/documentation/cdl/en/statug/63033/HTML/default/statug_lifetest_a0000000260.htm;
    # SAS vs R differ only by that default: https://stats.stackexchange.com/questions/548167).
    # A PROC LIFETEST output for R's kidney data quoted at
    # https://geek-questions.imtqy.com/articles/1679963/index.html (medians 22 and 130, limits
    # 12-30 and 58-185) is exactly what survfit(conf.type="log-log") prints.
    "JMP": AnalysisOptions(
        preset="JMP", ties="breslow", hr_ci="profile", km_ci="log-log", median="sas"
    ),
}


class OptionsError(ValueError):
    """Options a plan cannot run with; ``problems`` lists every one."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def option_problems(spec: Mapping | None) -> list[str]:
    """Every problem of a plan's ``options`` object (empty when it is valid)."""
    if spec is None:
        return []
    if not isinstance(spec, Mapping):
        return ['options: an object such as {"preset": "R"}']
    problems = []
    known = {f.name for f in fields(AnalysisOptions)}
    for key in spec:
        if key not in known:
            problems.append(f"options: unknown option {key!r}; known: {', '.join(sorted(known))}")
    preset = spec.get("preset", "R")
    if preset not in PRESETS:
        problems.append(f"options: unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    for key, allowed in CHOICES.items():
        if key in spec and spec[key] not in allowed:
            problems.append(
                f"options.{key}: {spec[key]!r} is not one of {', '.join(map(str, allowed))}"
            )
    if "confidence" in spec:
        level = spec["confidence"]
        if isinstance(level, bool) or not isinstance(level, int | float) or not 0.5 <= level < 1:
            problems.append(f"options.confidence: {level!r} is not a level between 0.5 and 1")
    return problems


def resolve_options(plan: Mapping) -> AnalysisOptions:
    """The plan's preset with its overrides (OptionsError when any is invalid)."""
    spec = plan.get("options")
    problems = option_problems(spec)
    if problems:
        raise OptionsError(problems)
    spec = dict(spec or {})
    base = PRESETS[spec.pop("preset", "R")]
    return replace(base, **spec)
