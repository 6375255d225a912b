# Held-out acceptance fixtures and their R reference (issue 13, "Acceptance").
#
# Run from the repository root:   Rscript tests/analysis/r/heldout_reference.R
# Needs R (4.2.2 here) and the recommended package survival (3.5-3 here); nothing else.
#
# Writes, into tests/fixtures/cohorts/ (and the files are committed):
#   <name>.csv                  R survival's public dataset in its ORIGINAL coding, one
#                               column added: study_id (ExoTrack needs one)
#   <name>_dictionary.json      its data dictionary (analysis.dictionary.DataDictionary)
#   <name>_plan_R.json          the plan, preset "R"
#   <name>_plan_JMP.json        the same plan, preset "JMP"
#   heldout_reference.json      what R says every analysis of those plans must report
#
# The plans are defined ONCE, below, and this script both writes them and computes their
# results, so the plan a test runs and the numbers it is checked against cannot drift.
# The numbers are computed on the CSV as written and read back, so ExoTrack and R read
# exactly the same doubles.
#
# What is computed, per analysis:
# * kaplan_meier: per group n, events, and the median with its CI as
#   print(survfit(..., conf.type = t)) gives it, for t in "log" (R's default), "log-log"
#   and "plain" (NA where R prints NA: "not reached"), under "r"; and under "sas" the
#   same by SAS PROC LIFETEST's rule (see sas_median); the log-rank test (survdiff).
#   A split at the median takes the median over the rows the analysis uses (time, event
#   and the variable present); "low" is <= the median, "high" is > it.
# * cox: per model (each term alone, then the multivariate list) and per ties method
#   ("efron": R preset, "breslow": JMP preset): n, events, coef, se, HR, Wald P, Wald
#   HR CI, profile-likelihood HR CI, the likelihood-ratio, Wald and score tests, and
#   the concordance. A "median" cut-off is the median over the model's complete cases.
#   The profile CI of a coefficient is the two values b where
#   2 * (LL(beta_hat) - LL_profile(b)) = qchisq(0.95, 1), LL_profile(b) re-maximising the
#   other coefficients with that one fixed (an offset); found with uniroot.
#
# The reference is deterministic: re-running this script rewrites identical files.

suppressPackageStartupMessages(library(survival))

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
root <- if (length(script)) {
  normalizePath(file.path(dirname(script), "..", "..", ".."))
} else {
  getwd()
}
out_dir <- file.path(root, "tests", "fixtures", "cohorts")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

CONFIDENCE <- 0.95
CONF_TYPES <- c("log", "log-log", "plain")
TIES <- c("efron", "breslow")
PRESETS <- c("R", "JMP")

# ---------------------------------------------------------------- a small JSON writer
# Named list -> object, unnamed list -> array, atomic of length 1 -> scalar, longer
# atomic -> array, NULL / NA -> null. Numbers print with 17 significant digits (exact).

json_string <- function(x) {
  x <- gsub("\\\\", "\\\\\\\\", x)
  x <- gsub("\"", "\\\\\"", x)
  paste0("\"", x, "\"")
}

json_scalar <- function(x) {
  if (is.null(x) || length(x) == 0 || is.na(x)) return("null")
  if (is.logical(x)) return(if (x) "true" else "false")
  if (is.numeric(x)) {
    if (!is.finite(x)) return("null")
    if (x == round(x) && abs(x) < 1e15) return(format(x, scientific = FALSE))
    for (digits in 15:17) {
      text <- sprintf("%.*g", digits, x)
      if (as.numeric(text) == x) return(text)
    }
  }
  json_string(as.character(x))
}

to_json <- function(x, indent = 0) {
  pad <- strrep(" ", indent + 1)
  end <- strrep(" ", indent)
  if (is.null(x)) return("null")
  if (is.list(x)) {
    if (length(x) == 0) return(if (is.null(names(x))) "[]" else "{}")
    inner <- vapply(x, to_json, "", indent = indent + 1)
    if (!is.null(names(x))) {
      inner <- paste0(json_string(names(x)), ": ", inner)
      return(paste0("{\n", pad, paste(inner, collapse = paste0(",\n", pad)), "\n", end, "}"))
    }
    return(paste0("[\n", pad, paste(inner, collapse = paste0(",\n", pad)), "\n", end, "]"))
  }
  if (is.factor(x)) x <- as.character(x)
  if (length(x) == 1) return(json_scalar(x))
  paste0("[", paste(vapply(x, json_scalar, ""), collapse = ", "), "]")
}

write_json <- function(x, path) {
  writeLines(to_json(x), file.path(out_dir, path), useBytes = TRUE)
}

# ---------------------------------------------------------------- the datasets
# Each: the R data in its original coding, its data dictionary and its plan.

# A categorical column's values are text codes once imported ("1", "2"), so its levels
# are written as text, and so are the levels a plan's Cox terms name. An event column is
# boolean with its coding declared (event_values / censored_values).
column <- function(name, type = "numeric", role = "variable", unit = "", label = "",
                   levels = character(0), level_labels = character(0),
                   event_values = list(), censored_values = list()) {
  list(name = name, type = type, role = role, unit = unit, label = label,
       levels = as.list(as.character(levels)), level_labels = as.list(level_labels),
       event_values = as.list(event_values), censored_values = as.list(censored_values))
}

event_column <- function(name, label, event_values, censored_values) {
  column(name, "boolean", "event", label = label, event_values = event_values,
         censored_values = censored_values)
}

km <- function(name, title, split = NULL) {
  spec <- list(kind = "kaplan_meier", name = name, title = title)
  if (!is.null(split)) spec$split <- split
  spec
}

term <- function(column, label, level = NULL, cutoff = NULL, low_is_one = FALSE) {
  spec <- list(column = column)
  if (!is.null(level)) {
    level <- as.character(level)
    spec$level <- if (length(level) > 1) as.list(level) else level
  }
  if (!is.null(cutoff)) spec$cutoff <- cutoff
  if (low_is_one) spec$low_is_one <- TRUE
  spec$label <- label
  spec
}

cox <- function(name, title, terms, multivariate) {
  list(kind = "cox", name = name, title = title, terms = terms,
       multivariate = as.list(multivariate))
}

by_levels <- function(column) list(column = column, at = "levels")
by_median <- function(column) list(column = column, at = "median")

lung_data <- survival::lung
veteran_data <- survival::veteran
veteran_data$celltype <- as.character(veteran_data$celltype)
pbc_data <- survival::pbc
pbc_data$sex <- as.character(pbc_data$sex)

DATASETS <- list(
  lung = list(
    data = lung_data,
    source = "R survival 3.5-3, dataset lung (NCCTG advanced lung cancer), original coding",
    time = "time", event = "status", event_values = 2,
    columns = list(
      column("study_id", "id", "id", label = "Study ID (added: row number in R)"),
      column("inst", "categorical", label = "Institution code",
             levels = sort(unique(na.omit(survival::lung$inst)))),
      column("time", role = "time", unit = "days", label = "Survival time"),
      event_column("status", "Death (1 = censored, 2 = dead)", 2, 1),
      column("age", unit = "years", label = "Age"),
      column("sex", "categorical", label = "Sex", levels = c(1, 2),
             level_labels = c("male", "female")),
      column("ph.ecog", label = "ECOG performance score (physician, 0-3)"),
      column("ph.karno", label = "Karnofsky score (physician)"),
      column("pat.karno", label = "Karnofsky score (patient)"),
      column("meal.cal", unit = "kcal", label = "Calories consumed at meals"),
      column("wt.loss", unit = "lb", label = "Weight loss in last six months")
    ),
    analyses = list(
      km("Survival, all patients", "Overall survival"),
      km("Survival by sex", "Overall survival by sex", by_levels("sex")),
      km("Survival by ECOG", "Overall survival by ECOG score", by_levels("ph.ecog")),
      km("Survival by age", "Overall survival by age (median split)", by_median("age")),
      km("Survival by weight loss", "Overall survival by weight loss (median split)",
         by_median("wt.loss")),
      cox("Cox", "Factors associated with overall survival",
          list(term("age", "Age (per year)"),
               term("sex", "Sex (female vs male)", level = 2),
               term("ph.ecog", "ECOG (per point)"),
               term("ph.ecog", "ECOG (>1 vs <=1)", cutoff = 1),
               term("ph.karno", "Karnofsky (<= median vs >)", cutoff = "median",
                    low_is_one = TRUE),
               term("wt.loss", "Weight loss (> median vs <=)", cutoff = "median")),
          c("Age (per year)", "Sex (female vs male)", "ECOG (per point)"))
    )
  ),
  veteran = list(
    data = veteran_data,
    source = "R survival 3.5-3, dataset veteran (VA lung cancer trial), original coding",
    time = "time", event = "status", event_values = 1,
    columns = list(
      column("study_id", "id", "id", label = "Study ID (added: row number in R)"),
      column("trt", "categorical", label = "Treatment", levels = c(1, 2),
             level_labels = c("standard", "test")),
      column("celltype", "categorical", label = "Cell type",
             levels = c("squamous", "smallcell", "adeno", "large")),
      column("time", role = "time", unit = "days", label = "Survival time"),
      event_column("status", "Death (0 = censored, 1 = dead)", 1, 0),
      column("karno", label = "Karnofsky performance score"),
      column("diagtime", unit = "months", label = "Time from diagnosis to randomisation"),
      column("age", unit = "years", label = "Age"),
      column("prior", "categorical", label = "Prior therapy", levels = c(0, 10),
             level_labels = c("no", "yes"))
    ),
    analyses = list(
      km("Survival, all patients", "Overall survival"),
      km("Survival by treatment", "Overall survival by treatment", by_levels("trt")),
      km("Survival by cell type", "Overall survival by cell type", by_levels("celltype")),
      km("Survival by Karnofsky", "Overall survival by Karnofsky score (median split)",
         by_median("karno")),
      cox("Cox", "Factors associated with overall survival",
          list(term("trt", "Treatment (test vs standard)", level = 2),
               term("karno", "Karnofsky (per point)"),
               term("karno", "Karnofsky (<= median vs >)", cutoff = "median",
                    low_is_one = TRUE),
               term("age", "Age (per year)"),
               term("prior", "Prior therapy (yes vs no)", level = 10),
               term("celltype", "Cell type small cell vs other", level = "smallcell"),
               term("celltype", "Cell type adeno vs other", level = "adeno"),
               term("celltype", "Cell type large vs other", level = "large"),
               term("celltype", "Cell type small cell or adeno vs other",
                    level = c("smallcell", "adeno"))),
          c("Treatment (test vs standard)", "Karnofsky (per point)",
            "Cell type small cell vs other", "Cell type adeno vs other",
            "Cell type large vs other"))
    )
  ),
  pbc = list(
    data = pbc_data,
    source = "R survival 3.5-3, dataset pbc (Mayo Clinic primary biliary cholangitis), original coding",
    time = "time", event = "status", event_values = 2,
    columns = list(
      column("study_id", "id", "id", label = "Study ID (added: R's id)"),
      column("id", "id", "id", label = "Case number"),
      column("time", role = "time", unit = "days", label = "Time to death, transplant or censoring"),
      event_column("status", "Death (0 = censored, 1 = transplant: censored, 2 = dead)",
                   2, c(0, 1)),
      column("trt", "categorical", label = "Treatment", levels = c(1, 2),
             level_labels = c("D-penicillamine", "placebo")),
      column("age", unit = "years", label = "Age"),
      column("sex", "categorical", label = "Sex", levels = c("m", "f"),
             level_labels = c("male", "female")),
      column("ascites", "categorical", label = "Ascites", levels = c(0, 1)),
      column("hepato", "categorical", label = "Hepatomegaly", levels = c(0, 1)),
      column("spiders", "categorical", label = "Spider angiomata", levels = c(0, 1)),
      column("edema", label = "Oedema (0 none, 0.5 untreated or resolved, 1 despite diuretics)"),
      column("bili", unit = "mg/dl", label = "Serum bilirubin"),
      column("chol", unit = "mg/dl", label = "Serum cholesterol"),
      column("albumin", unit = "g/dl", label = "Serum albumin"),
      column("copper", unit = "ug/day", label = "Urine copper"),
      column("alk.phos", unit = "U/l", label = "Alkaline phosphatase"),
      column("ast", unit = "U/ml", label = "Aspartate aminotransferase"),
      column("trig", unit = "mg/dl", label = "Triglycerides"),
      column("platelet", label = "Platelet count"),
      column("protime", unit = "s", label = "Standardised blood clotting time"),
      column("stage", "categorical", label = "Histologic stage", levels = 1:4)
    ),
    analyses = list(
      km("Survival, all patients", "Survival (death; transplant censored)"),
      km("Survival by treatment", "Survival by treatment (randomised patients)", by_levels("trt")),
      km("Survival by stage", "Survival by histologic stage", by_levels("stage")),
      km("Survival by bilirubin", "Survival by bilirubin (median split)", by_median("bili")),
      km("Survival by cholesterol", "Survival by cholesterol (median split)", by_median("chol")),
      cox("Cox", "Factors associated with survival",
          list(term("age", "Age (per year)"),
               term("sex", "Sex (female vs male)", level = "f"),
               term("trt", "Treatment (placebo vs D-penicillamine)", level = 2),
               term("bili", "Bilirubin (per mg/dl)"),
               term("bili", "Bilirubin (> median vs <=)", cutoff = "median"),
               term("albumin", "Albumin (per g/dl)"),
               term("albumin", "Albumin (<= 3.5 vs > 3.5 g/dl)", cutoff = 3.5, low_is_one = TRUE),
               term("edema", "Oedema (per unit)"),
               term("chol", "Cholesterol (> median vs <=)", cutoff = "median"),
               term("stage", "Stage (3 or 4 vs 1 or 2)", level = c(3, 4)),
               term("protime", "Prothrombin time (per s)")),
          c("Age (per year)", "Bilirubin (per mg/dl)", "Albumin (per g/dl)",
            "Oedema (per unit)", "Prothrombin time (per s)"))
    )
  )
)

# ---------------------------------------------------------------- the fixture files

export_dataset <- function(name, ds) {
  data <- ds$data
  width <- nchar(nrow(data))
  ids <- if (name == "pbc") data$id else seq_len(nrow(data))
  study_id <- sprintf("%s-%0*d", name, width, ids)
  data <- cbind(study_id = study_id, data, stringsAsFactors = FALSE)
  path <- file.path(out_dir, paste0(name, ".csv"))
  write.csv(data, path, row.names = FALSE, na = "", quote = FALSE, fileEncoding = "UTF-8")
  read.csv(path, stringsAsFactors = FALSE, na.strings = "", check.names = FALSE)
}

plan_for <- function(name, ds, preset) {
  list(
    description = sprintf(
      "Held-out acceptance plan for R's %s dataset (issue 13), preset %s; written by tests/analysis/r/heldout_reference.R",
      name, preset),
    time = ds$time,
    event = ds$event,
    options = list(preset = preset),
    analyses = ds$analyses
  )
}

# ---------------------------------------------------------------- Kaplan-Meier

surv_frame <- function(data, ds) {
  data.frame(time = data[[ds$time]],
             event = as.integer(data[[ds$event]] %in% ds$event_values),
             present = !is.na(data[[ds$time]]) & !is.na(data[[ds$event]]))
}

group_key <- function(x) {
  if (is.numeric(x)) sprintf("%.15g", x) else as.character(x)
}

km_median <- function(time, event, conf_type) {
  fit <- survfit(Surv(time, event) ~ 1, conf.type = conf_type, conf.int = CONFIDENCE)
  table <- summary(fit)$table
  list(median = unname(table["median"]),
       ci_low = unname(table[paste0(CONFIDENCE, "LCL")]),
       ci_high = unname(table[paste0(CONFIDENCE, "UCL")]))
}

# SAS PROC LIFETEST's rule (JMP's Survival platform follows it), written out from the
# SAS/STAT documentation on the same survfit curve and band: the median is
# (inf{t: 1 - S(t) >= 1/2} + sup{t: 1 - S(t) <= 1/2}) / 2, missing when the curve never
# goes below 1/2; its CI is Brookmeyer and Crowley's set {t: the band at t contains 1/2},
# from the first time the lower band is <= 1/2 to the first time the upper band is < 1/2.
# Equality is judged within sqrt(machine epsilon), as R's quantile.survfit does.
sas_median <- function(time, event, conf_type) {
  fit <- survfit(Surv(time, event) ~ 1, conf.type = conf_type, conf.int = CONFIDENCE)
  tol <- sqrt(.Machine$double.eps)
  first <- function(hit) {
    at <- which(!is.na(hit) & hit)
    if (length(at)) fit$time[at[1]] else NA
  }
  reached <- first(fit$surv <= 0.5 + tol)
  passed <- first(fit$surv < 0.5 - tol)
  list(median = if (is.na(reached) || is.na(passed)) NA else (reached + passed) / 2,
       ci_low = first(fit$lower <= 0.5 + tol),
       ci_high = first(fit$upper < 0.5 - tol))
}

MEDIAN_RULES <- list(r = km_median, sas = sas_median)

km_reference <- function(spec, data, ds) {
  s <- surv_frame(data, ds)
  split <- spec$split
  cutoff <- NULL
  if (is.null(split)) {
    used <- s$present
    group <- rep("all", nrow(data))
  } else {
    x <- data[[split$column]]
    used <- s$present & !is.na(x)
    if (split$at == "median") {
      cutoff <- median(x[used])
      group <- ifelse(x <= cutoff, "low", "high")
    } else {
      group <- group_key(x)
    }
  }
  s <- s[used, ]
  group <- group[used]
  keys <- if (!is.null(split) && split$at == "median") c("low", "high") else
    sort(unique(group))
  if (!is.null(split) && split$at == "levels" && is.numeric(data[[split$column]])) {
    keys <- group_key(sort(unique(data[[split$column]][used])))
  }
  groups <- lapply(keys, function(key) {
    rows <- group == key
    medians <- lapply(MEDIAN_RULES, function(rule) {
      by_band <- lapply(CONF_TYPES, function(t) rule(s$time[rows], s$event[rows], t))
      setNames(by_band, CONF_TYPES)
    })
    list(group = key, n = sum(rows), events = sum(s$event[rows]), median = medians)
  })
  result <- list(n = nrow(s), split = split, cutoff = cutoff, groups = groups, logrank = NULL)
  if (!is.null(split)) {
    test <- survdiff(Surv(s$time, s$event) ~ group)
    df <- length(test$n) - 1
    result$logrank <- list(chisq = test$chisq, df = df,
                           p = pchisq(test$chisq, df, lower.tail = FALSE))
  }
  result
}

# ---------------------------------------------------------------- Cox

encode_term <- function(t, x, used) {
  if (!is.null(t$level)) {
    coded <- as.numeric(x %in% unlist(t$level))
    coded[is.na(x)] <- NA
    return(list(x = coded, cutoff = NULL))
  }
  if (is.null(t$cutoff)) return(list(x = as.numeric(x), cutoff = NULL))
  cutoff <- if (identical(t$cutoff, "median")) median(x[used]) else t$cutoff
  coded <- if (isTRUE(t$low_is_one)) as.numeric(x <= cutoff) else as.numeric(x > cutoff)
  list(x = coded, cutoff = cutoff)
}

TIGHT <- coxph.control(eps = 1e-14, toler.chol = 1e-15, iter.max = 100)

profile_loglik <- function(j, b, y, X, ties, start) {
  offset <- b * X[, j]
  if (ncol(X) == 1) {
    fit <- coxph(y ~ offset(offset), ties = ties, control = TIGHT)
    return(fit$loglik[1])
  }
  others <- X[, -j, drop = FALSE]
  fit <- coxph(y ~ others + offset(offset), ties = ties, init = start[-j], control = TIGHT)
  fit$loglik[2]
}

profile_ci <- function(j, y, X, ties, beta, se, loglik) {
  target <- qchisq(CONFIDENCE, 1)
  f <- function(b) 2 * (loglik - profile_loglik(j, b, y, X, ties, beta)) - target
  limit <- function(direction) {
    step <- 2 * se[j]
    far <- beta[j] + direction * step
    while (f(far) < 0) {
      step <- step * 2
      far <- beta[j] + direction * step
      if (step > 1e3) return(NA)
    }
    ends <- sort(c(beta[j], far))
    uniroot(f, ends, tol = 1e-12, maxiter = 1000)$root
  }
  c(limit(-1), limit(1))
}

cox_model <- function(labels, terms, data, ds, ties) {
  s <- surv_frame(data, ds)
  raw <- lapply(terms, function(t) data[[t$column]])
  used <- s$present & Reduce(`&`, lapply(raw, function(x) !is.na(x))) & s$time >= 0
  encoded <- mapply(encode_term, terms, raw, MoreArgs = list(used = used), SIMPLIFY = FALSE)
  X <- do.call(cbind, lapply(encoded, function(e) e$x[used]))
  colnames(X) <- sprintf("x%d", seq_along(terms))
  y <- Surv(s$time[used], s$event[used])
  fit <- coxph(y ~ X, ties = ties)
  beta <- unname(coef(fit))
  se <- unname(sqrt(diag(vcov(fit))))
  tight <- coxph(y ~ X, ties = ties, control = TIGHT)
  if (max(abs(coef(tight) - coef(fit))) > 1e-8) stop("R's default fit is not converged")
  z <- qnorm(0.5 + CONFIDENCE / 2)
  estimates <- lapply(seq_along(terms), function(j) {
    profile <- profile_ci(j, y, X, ties, unname(coef(tight)), se, tight$loglik[2])
    list(term = labels[[j]], column = terms[[j]]$column, cutoff = encoded[[j]]$cutoff,
         coef = beta[j], se = se[j], hr = exp(beta[j]),
         p = 2 * pnorm(-abs(beta[j] / se[j])),
         wald_ci = c(exp(beta[j] - z * se[j]), exp(beta[j] + z * se[j])),
         profile_ci = exp(profile))
  })
  df <- length(beta)
  lr <- 2 * (fit$loglik[2] - fit$loglik[1])
  list(ties = ties, n = fit$n, events = fit$nevent,
       loglik = fit$loglik,
       lr = list(chisq = lr, df = df, p = pchisq(lr, df, lower.tail = FALSE)),
       wald = list(chisq = unname(fit$wald.test), df = df,
                   p = pchisq(unname(fit$wald.test), df, lower.tail = FALSE)),
       score = list(chisq = unname(fit$score), df = df,
                    p = pchisq(unname(fit$score), df, lower.tail = FALSE)),
       concordance = unname(fit$concordance["concordance"]),
       estimates = estimates)
}

cox_by_ties <- function(labels, terms, data, ds) {
  models <- lapply(TIES, function(ties) cox_model(labels, terms, data, ds, ties))
  names(models) <- TIES
  list(terms = as.list(labels), ties = models)
}

cox_reference <- function(spec, data, ds) {
  labels <- vapply(spec$terms, function(t) t$label, "")
  univariate <- lapply(seq_along(spec$terms), function(j) {
    cox_by_ties(labels[j], spec$terms[j], data, ds)
  })
  names(univariate) <- labels
  chosen <- unlist(spec$multivariate)
  multivariate <- cox_by_ties(chosen, spec$terms[match(chosen, labels)], data, ds)
  list(univariate = univariate, multivariate = multivariate)
}

# ---------------------------------------------------------------- run everything

reference <- list(
  generated_by = "tests/analysis/r/heldout_reference.R",
  r_version = paste(R.version$major, R.version$minor, sep = "."),
  survival_version = as.character(packageVersion("survival")),
  confidence = CONFIDENCE,
  presets = list(R = list(ties = "efron", hr_ci = "wald", km_ci = "log"),
                 JMP = list(ties = "breslow", hr_ci = "profile")),
  datasets = list()
)

for (name in names(DATASETS)) {
  ds <- DATASETS[[name]]
  data <- export_dataset(name, ds)
  write_json(list(time_unit = "days", source = "declared", columns = ds$columns),
             paste0(name, "_dictionary.json"))
  for (preset in PRESETS) {
    write_json(plan_for(name, ds, preset), sprintf("%s_plan_%s.json", name, preset))
  }
  kaplan_meier <- list()
  cox_models <- list()
  for (spec in ds$analyses) {
    if (spec$kind == "kaplan_meier") kaplan_meier[[spec$name]] <- km_reference(spec, data, ds)
    if (spec$kind == "cox") cox_models[[spec$name]] <- cox_reference(spec, data, ds)
  }
  reference$datasets[[name]] <- list(
    csv = paste0(name, ".csv"),
    dictionary = paste0(name, "_dictionary.json"),
    plans = list(R = sprintf("%s_plan_R.json", name), JMP = sprintf("%s_plan_JMP.json", name)),
    time = ds$time, event = ds$event, event_values = as.list(ds$event_values),
    rows = nrow(data),
    kaplan_meier_median_rules = as.list(names(MEDIAN_RULES)),
    kaplan_meier = kaplan_meier,
    cox = cox_models
  )
  cat(sprintf("%s: %d rows, %d KM, %d Cox analyses\n", name, nrow(data),
              length(kaplan_meier), length(cox_models)))
}

write_json(reference, "heldout_reference.json")
cat("wrote", file.path(out_dir, "heldout_reference.json"), "\n")
