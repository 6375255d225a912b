# The R survival package's lung dataset in its original codings (status 1 = censored,
# 2 = dead; sex 1 = male, 2 = female; time in days), written for the dictionary tests
# (tests/analysis/test_dictionary.py), and the reference numbers they check.
# Run from the repository root: Rscript tests/analysis/r/lung_dictionary.R
library(survival)
write.csv(lung, "tests/analysis/data/lung.csv", row.names = FALSE, na = "")
cat("rows", nrow(lung), "\n")
cat("events (status == 2)", sum(lung$status == 2), "\n")
fit <- survfit(Surv(time, status) ~ 1, data = lung)
cat("median survival (days)", summary(fit)$table["median"], "\n")
cat("sex counts", table(lung$sex), "\n")
lr <- survdiff(Surv(time, status) ~ sex, data = lung)
cat("log-rank chisq by sex", lr$chisq, "\n")
