# Reference values for analysis/stats/cox.py from R survival (R 4.2.2, survival 3.5-3).
#
#   cd tests/analysis/r && Rscript cox_reference.R      # writes cox_reference.json and the CSVs
#
# Data sets in their original coding: lung (status 1/2, sex 1/2, ph.ecog with NA),
# veteran, ovarian, and rossi (read from rossi.csv, which lifelines ships). Every model is
# fitted with Efron and Breslow ties; for each: coefficients, se, Wald P, the LR, Wald and
# score tests, concordance, cox.zph (transform "km", per term and GLOBAL) and 95%
# profile-likelihood intervals (other coefficients re-maximised with the profiled one as
# an offset, root search with uniroot). A Firth-penalised reference (Heinze & Schemper's
# penalty 0.5·log|I(β)|, maximised here with optim over coxph's own likelihood and
# information) is written for a data set with complete separation.
library(survival)

data(cancer, package = "survival")  # lung, veteran, ovarian
rossi <- read.csv("rossi.csv")
write.csv(lung, "lung.csv", row.names = FALSE, na = "")
write.csv(veteran, "veteran.csv", row.names = FALSE, na = "")
write.csv(ovarian, "ovarian.csv", row.names = FALSE, na = "")

num <- function(x) {
  if (length(x) == 0) return("[]")
  v <- ifelse(is.finite(x), formatC(x, digits = 17, format = "g"), "null")
  if (length(x) == 1 && is.null(names(x))) v else paste0("[", paste(v, collapse = ", "), "]")
}
obj <- function(...) {
  items <- list(...)
  paste0("{", paste(sprintf("\"%s\": %s", names(items), unlist(items)), collapse = ", "), "}")
}
named <- function(values) {
  paste0("{", paste(sprintf("\"%s\": %s", names(values), sapply(values, num)), collapse = ", "), "}")
}
strs <- function(x) paste0("[", paste(sprintf("\"%s\"", x), collapse = ", "), "]")

profile_ci <- function(fit, ties, level = 0.95) {
  X <- fit$x
  y <- fit$y
  target <- qchisq(level, 1)
  best <- fit$loglik[2]
  ctl <- coxph.control(eps = 1e-12, iter.max = 100, toler.chol = 1e-13)
  sapply(seq_along(fit$coefficients), function(j) {
    profile <- function(b) {
      off <- b * X[, j]
      if (ncol(X) == 1) {
        f <- coxph(y ~ offset(off), ties = ties, control = ctl)
      } else {
        others <- X[, -j, drop = FALSE]
        f <- coxph(y ~ others + offset(off), ties = ties, control = ctl)
      }
      2 * (best - f$loglik[length(f$loglik)]) - target
    }
    b <- fit$coefficients[j]
    se <- sqrt(fit$var[j, j])
    lo <- uniroot(profile, c(b - 6 * se, b), tol = 1e-13)$root
    hi <- uniroot(profile, c(b, b + 6 * se), tol = 1e-13)$root
    c(lo, hi)
  })
}

model_json <- function(formula, data, ties) {
  fit <- coxph(formula, data = data, ties = ties, x = TRUE)
  s <- summary(fit)
  zph <- cox.zph(fit)
  ci <- profile_ci(fit, ties)
  coefs <- fit$coefficients
  obj(
    formula = sprintf("\"%s\"", paste(deparse(formula), collapse = "")),
    ties = sprintf("\"%s\"", ties),
    terms = strs(names(coefs)),
    n = num(fit$n), events = num(fit$nevent),
    coef = num(unname(coefs)),
    se = num(unname(sqrt(diag(fit$var)))),
    z = num(unname(s$coefficients[, "z"])),
    p = num(unname(s$coefficients[, "Pr(>|z|)"])),
    wald_ci_low = num(unname(s$conf.int[, "lower .95"])),
    wald_ci_high = num(unname(s$conf.int[, "upper .95"])),
    profile_ci_low = num(unname(exp(ci[1, ]))),
    profile_ci_high = num(unname(exp(ci[2, ]))),
    loglik = num(fit$loglik),
    lr = num(unname(s$logtest)), score = num(unname(s$sctest)),
    wald = num(c(fit$wald.test, length(coefs), pchisq(fit$wald.test, length(coefs), lower.tail = FALSE))),
    concordance = num(unname(fit$concordance["concordance"])),
    zph_chisq = num(unname(zph$table[, "chisq"])),
    zph_p = num(unname(zph$table[, "p"]))
  )
}

univariate <- function(data, time, status, terms) {
  lapply(terms, function(term) as.formula(sprintf("Surv(%s, %s) ~ %s", time, status, term)))
}
multivariate <- function(time, status, terms) {
  as.formula(sprintf("Surv(%s, %s) ~ %s", time, status, paste(terms, collapse = " + ")))
}

datasets <- list(
  lung = list(data = lung, time = "time", status = "status",
              uni = c("age", "sex", "ph.ecog", "ph.karno", "wt.loss"),
              multi = c("age", "sex", "ph.ecog", "wt.loss")),
  veteran = list(data = veteran, time = "time", status = "status",
                 uni = c("trt", "karno", "age", "diagtime", "prior"),
                 multi = c("trt", "karno", "diagtime", "age", "prior")),
  ovarian = list(data = ovarian, time = "futime", status = "fustat",
                 uni = c("age", "resid.ds", "rx", "ecog.ps"),
                 multi = c("age", "ecog.ps", "rx")),
  rossi = list(data = rossi, time = "week", status = "arrest",
               uni = c("fin", "age", "race", "wexp", "mar", "paro", "prio"),
               multi = c("fin", "age", "race", "wexp", "mar", "paro", "prio"))
)

entries <- c()
for (name in names(datasets)) {
  d <- datasets[[name]]
  formulas <- c(univariate(d$data, d$time, d$status, d$uni), list(multivariate(d$time, d$status, d$multi)))
  for (f in formulas) {
    for (ties in c("efron", "breslow")) {
      entries <- c(entries, sprintf("{\"dataset\": \"%s\", \"model\": %s}", name, model_json(f, d$data, ties)))
    }
  }
}

# Firth: all events in the group x = 1 (monotone likelihood); z a covariate without it.
n <- 40
firth_data <- data.frame(time = ceiling((1:n) / 2) * 1.5, x = rep(c(1, 1, 0, 0, 1), 8),
                         z = round(sin(1:n), 3))
firth_data$status <- ifelse(firth_data$x == 1 & (1:n) %% 3 != 0, 1, 0)
write.csv(firth_data, "firth.csv", row.names = FALSE)

firth_fit <- function(terms, ties) {
  X <- as.matrix(firth_data[, terms, drop = FALSE])
  y <- Surv(firth_data$time, firth_data$status)
  penalised <- function(beta) {
    f <- suppressWarnings(coxph(y ~ X, init = beta, ties = ties,
                                control = coxph.control(iter.max = 0)))
    f$loglik[2] + 0.5 * log(det(solve(f$var)))
  }
  opt <- optim(rep(0, length(terms)), function(b) -penalised(b), method = "BFGS",
               control = list(reltol = 1e-16, maxit = 1000))
  opt <- optim(opt$par, function(b) -penalised(b), method = if (length(terms) == 1) "Brent" else "Nelder-Mead", lower = if (length(terms) == 1) -20 else -Inf, upper = if (length(terms) == 1) 20 else Inf,
               control = list(reltol = 1e-16, maxit = 5000))
  best <- -opt$value
  out <- list(coef = opt$par, loglik = best)
  if (length(terms) == 1) {
    target <- qchisq(0.95, 1)
    dev <- function(b) 2 * (best - penalised(b)) - target
    b <- opt$par
    out$ci_low <- exp(uniroot(dev, c(b - 10, b), tol = 1e-12)$root)
    out$ci_high <- exp(uniroot(dev, c(b, b + 10), tol = 1e-12)$root)
    out$p <- pchisq(2 * (best - penalised(0)), 1, lower.tail = FALSE)
    out$loglik_null <- penalised(0)
  }
  out
}
for (terms in list("x", c("x", "z"))) {
  for (ties in c("breslow", "efron")) {
    r <- firth_fit(terms, ties)
    fields <- sapply(r, num)
    body <- paste(c(sprintf("\"terms\": %s", strs(terms)), sprintf("\"ties\": \"%s\"", ties),
                    sprintf("\"%s\": %s", names(fields), fields)), collapse = ", ")
    entries <- c(entries, sprintf("{\"dataset\": \"firth\", \"firth\": {%s}}", body))
  }
}

writeLines(c("[", paste(entries, collapse = ",\n"), "]"), "cox_reference.json")
cat(sprintf("%d entries written\n", length(entries)))
