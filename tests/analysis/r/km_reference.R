# Kaplan-Meier and log-rank reference values from R survival, for tests/analysis/test_survival.py.
#
# Run from the repository root:  Rscript tests/analysis/r/km_reference.R
# Writes tests/analysis/r/km_reference.json (the tests read it; they never run R).
# Datasets are R's own, in their original coding (lung and veteran's status, ovarian's
# fustat ...): `event_value` names the status value that means the event.
library(survival)

CONF_TYPES <- c("log", "log-log", "plain")

json <- function(x) {
  if (is.null(x)) return("null")
  if (inherits(x, "json_array")) {
    x <- unclass(x)
    if (is.list(x)) return(paste0("[", paste(vapply(x, json, ""), collapse = ", "), "]"))
    return(paste0("[", paste(vapply(as.list(x), json, ""), collapse = ", "), "]"))
  }
  if (is.list(x)) {
    keys <- names(x)
    parts <- vapply(seq_along(x), function(i) paste0('"', keys[i], '": ', json(x[[i]])), "")
    return(paste0("{", paste(parts, collapse = ", "), "}"))
  }
  if (length(x) != 1) stop("scalar expected; wrap vectors in arr()")
  if (is.na(x)) return("null")
  if (is.character(x) || is.factor(x)) return(paste0('"', as.character(x), '"'))
  if (is.logical(x)) return(if (x) "true" else "false")
  if (!is.finite(x)) return("null")
  sprintf("%.17g", x)
}
arr <- function(x) structure(if (is.list(x)) x else as.vector(x), class = "json_array")

stratum_values <- function(time, status, times, conf_type) {
  fit <- survfit(Surv(time, status) ~ 1, conf.type = conf_type)
  q <- quantile(fit, probs = 0.5)
  shown <- times[times <= max(time)]
  s <- summary(fit, times = shown)
  list(
    n = length(time),
    events = sum(status),
    median = unname(q$quantile), median_lower = unname(q$lower), median_upper = unname(q$upper),
    times = arr(s$time), n_risk = arr(s$n.risk), survival = arr(s$surv),
    lower = arr(s$lower), upper = arr(s$upper)
  )
}

reference_case <- function(name, data, time, status, event_value, group = NULL, times) {
  keep <- !is.na(data[[time]]) & !is.na(data[[status]])
  if (!is.null(group)) keep <- keep & !is.na(data[[group]])
  d <- data[keep, ]
  tt <- d[[time]]
  ev <- as.integer(d[[status]] == event_value)
  groups <- if (is.null(group)) rep("all", nrow(d)) else as.character(d[[group]])
  levels <- sort(unique(groups))
  fits <- list()
  for (conf_type in CONF_TYPES) {
    fits[[conf_type]] <- arr(lapply(levels, function(level) {
      inside <- groups == level
      c(list(group = level), stratum_values(tt[inside], ev[inside], times, conf_type))
    }))
  }
  test <- NULL
  if (length(levels) > 1) {
    sd <- survdiff(Surv(tt, ev) ~ groups)
    df <- sum(sd$exp > 0) - 1
    test <- list(chisq = sd$chisq, df = df, p = pchisq(sd$chisq, df, lower.tail = FALSE),
                 groups = arr(sub("^groups=", "", names(sd$n))),
                 observed = arr(sd$obs), expected = arr(sd$exp))
  }
  raw_group <- if (is.null(group)) NULL else arr(as.character(data[[group]]))
  list(
    name = name, event_value = event_value, times = arr(times),
    data = list(time = arr(data[[time]]), status = arr(data[[status]]), group = raw_group),
    fits = fits, survdiff = test
  )
}

# Medians that are "not reached" where survival stays above one half, and a curve that
# ends at 0 (the last death), where R's log and log-log bands are NA and so is the upper
# limit of the median; a curve flat at exactly one half (R takes the midpoint).
not_reached <- data.frame(
  time = c(2, 3, 5, 7, 8, 11, 13, 15, 17, 20, 4, 6, 9, 10, 12),
  status = c(1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1),
  arm = c(rep("A", 10), rep("B", 5))
)
flat_half <- data.frame(time = c(1, 2, 3, 4, 5, 6), status = c(1, 1, 1, 0, 1, 1))

cases <- list(
  reference_case("lung overall", lung, "time", "status", 2, NULL, c(0, 100, 200, 365, 500, 730)),
  reference_case("lung by sex", lung, "time", "status", 2, "sex", c(0, 100, 200, 365, 500, 730)),
  reference_case("lung by ph.ecog", lung, "time", "status", 2, "ph.ecog", c(0, 100, 200, 365)),
  reference_case("veteran by trt", veteran, "time", "status", 1, "trt", c(0, 30, 90, 180, 365)),
  reference_case("veteran by celltype", veteran, "time", "status", 1, "celltype", c(0, 30, 90, 180)),
  reference_case("aml by x", aml, "time", "status", 1, "x", c(0, 12, 24, 36, 48)),
  reference_case("ovarian by rx", ovarian, "futime", "fustat", 1, "rx", c(0, 180, 365, 730, 1000)),
  # kidney by sex: its PROC LIFETEST (JMP's conventions) output is quoted in analysis/options.py
  reference_case("kidney by sex", kidney, "time", "status", 1, "sex", c(0, 30, 90, 180)),
  reference_case("not reached by arm", not_reached, "time", "status", 1, "arm", c(0, 5, 10, 15)),
  reference_case("flat at one half", flat_half, "time", "status", 1, NULL, c(0, 2, 4, 6))
)

out <- list(
  generated_by = "tests/analysis/r/km_reference.R",
  r_version = R.version.string,
  survival_version = as.character(packageVersion("survival")),
  cases = arr(cases)
)
writeLines(json(out), "tests/analysis/r/km_reference.json")
