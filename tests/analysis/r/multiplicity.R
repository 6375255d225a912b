# Reference q-values for analysis.stats.multiplicity.benjamini_hochberg:
# R's p.adjust(method = "BH"). Run: Rscript tests/analysis/r/multiplicity.R
# The printed vectors are stored in tests/analysis/test_multiplicity.py.
options(digits = 17)
show <- function(name, p) {
  q <- p.adjust(p, method = "BH")
  cat(name, ": ", paste(ifelse(is.na(q), "NA", sprintf("%.17g", q)), collapse = ", "), "\n", sep = "")
}
# Thirteen P values shaped like Table II (one family of correlations).
table2 <- c(0.0004, 0.012, 0.031, 0.049, 0.051, 0.12, 0.2, 0.35, 0.46, 0.5, 0.71, 0.88, 0.97)
show("table2", table2)
# Ties, a P of 1, and an order that is not sorted.
show("ties", c(0.03, 0.01, 0.03, 1, 0.02, 0.01))
# Missing values are left out of the count (n = number of non-missing P).
show("missing", c(0.01, NA, 0.04, 0.03, NA, 0.5))
# Large P values: p * m / rank exceeds 1 for all but the largest; the step-up keeps q <= 1.
show("large", c(0.9, 0.95, 0.99, 0.8))
# A single P value is its own q.
show("single", c(0.037))
