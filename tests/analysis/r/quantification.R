# Reference values for analysis/efficiency.py, analysis/quantities.py and
# analysis/reference_stability.py, computed in base R only (no CRAN package is reachable
# here; none of EasyqpcR, NormqPCR, SLqPCR, ctrlGene is installed), written from the papers'
# formulas and independently of the Python code:
#
#   cd tests/analysis/r && Rscript quantification.R     # writes quantification_reference.json
#
# Data (tests/analysis/data/):
#   qpcr_standard_curves.csv  two dilution series (one outlier replicate, one undetermined
#                             well at the low end, one failed well inside the range)
#   qpcr_relative.csv         three runs of Cq triplicates: a target, two references,
#                             inter-run calibrators IRC1/IRC2 on R1 and R2, none on R3
#   vandesompele2002.csv      the geNorm paper's data (Genome Biol 2002, additional file 1)
#   andersen2004_colon.csv    the NormFinder paper's colon data (Cancer Res 2004, table 1 genes)
#   normfinder_negative_variance.csv  made-up Cq where NormFinder's variance estimate is < 0
options(digits = 17)
data_dir <- "../data"

num <- function(x) {
  if (length(x) == 0) return("[]")
  v <- ifelse(is.finite(x), formatC(x, digits = 17, format = "g"), "null")
  if (length(x) == 1 && is.null(names(x))) v else paste0("[", paste(v, collapse = ", "), "]")
}
str_ <- function(x) paste0("[", paste0("\"", x, "\"", collapse = ", "), "]")
obj <- function(items) {
  paste0("{", paste(sprintf("\"%s\": %s", names(items), unlist(items)), collapse = ", "), "}")
}

# ---- Standard curves -----------------------------------------------------------------
# Rule (as documented in analysis/efficiency.py): from the most dilute level upwards, a
# level with an undetermined well is below the linear range until a fully determined level;
# an undetermined well above that is a failed well; in a level of >= 3 Cq values a
# replicate more than 0.5 cycle from the level's median is an outlier. Then lm(Cq ~ log10 q).
curves <- read.csv(file.path(data_dir, "qpcr_standard_curves.csv"))
curve_out <- list(); curve_num <- list()
for (target in unique(curves$target)) {
  d <- curves[curves$target == target, ]
  d$lq <- log10(d$quantity)
  lv <- sort(unique(d$lq))
  keep <- rep(TRUE, nrow(d))
  for (l in lv) {
    w <- d$lq == l
    if (all(is.finite(d$cq[w]))) break
    keep[w] <- FALSE
  }
  keep[!is.finite(d$cq)] <- FALSE
  for (l in lv) {
    w <- which(d$lq == l & is.finite(d$cq) & keep)
    if (length(w) >= 3) {
      med <- median(d$cq[w])
      keep[w[abs(d$cq[w] - med) > 0.5]] <- FALSE
    }
  }
  fit <- lm(cq ~ lq, data = d[keep, ])
  co <- summary(fit)$coefficients
  slope <- co["lq", "Estimate"]; slope_se <- co["lq", "Std. Error"]
  eff <- 10^(-1 / slope) - 1
  eff_se <- log(10) * 10^(-1 / slope) / slope^2 * slope_se
  curve_num[[target]] <- c(eff = eff, se = eff_se)
  curve_out[[target]] <- obj(list(
    slope = num(slope), intercept = num(co["(Intercept)", "Estimate"]),
    slope_se = num(slope_se), intercept_se = num(co["(Intercept)", "Std. Error"]),
    r_squared = num(summary(fit)$r.squared), residual_sd = num(summary(fit)$sigma),
    efficiency = num(eff), efficiency_se = num(eff_se),
    n_points = num(sum(keep)), used = paste0("[", paste(ifelse(keep, "true", "false"), collapse = ", "), "]")
  ))
}
# Pooled: inverse-variance weighted mean of the two curves' efficiencies.
w <- 1 / sapply(curve_num, function(v) v[["se"]])^2
pooled <- obj(list(efficiency = num(sum(w * sapply(curve_num, function(v) v[["eff"]])) / sum(w)),
                   se = num(1 / sqrt(sum(w)))))

# ---- Relative quantities, NF, NRQ, inter-run calibration (Hellemans et al. 2007) ----------
wells <- read.csv(file.path(data_dir, "qpcr_relative.csv"))
key <- interaction(wells$run_id, wells$sample_id, wells$target, drop = TRUE, sep = "|")
groups <- split(wells$cq, key)
parts <- do.call(rbind, strsplit(names(groups), "|", fixed = TRUE))
summ <- data.frame(run_id = parts[, 1], sample_id = parts[, 2], target = parts[, 3],
                   mean_cq = sapply(groups, mean), sd_cq = sapply(groups, sd),
                   n = sapply(groups, length), stringsAsFactors = FALSE)
summ <- summ[order(summ$run_id, summ$sample_id, summ$target), ]
# Amplification factors: the two curves above (their efficiency and SE) and a declared one.
amp <- c("hsa-miR-122-5p" = NA, "cel-miR-39-3p" = NA, "hsa-miR-191-5p" = 1.95)
amp_se <- c("hsa-miR-122-5p" = NA, "cel-miR-39-3p" = NA, "hsa-miR-191-5p" = 0.02)
for (target in c("hsa-miR-122-5p", "cel-miR-39-3p")) {
  amp[target] <- 1 + curve_num[[target]][["eff"]]; amp_se[target] <- curve_num[[target]][["se"]]
}
E <- amp[summ$target]; E_se <- amp_se[summ$target]
cal <- ave(summ$mean_cq, summ$run_id, summ$target, FUN = mean)   # mean Cq within run
summ$cq_se <- summ$sd_cq / sqrt(summ$n)
dcq <- cal - summ$mean_cq
summ$rq <- E^dcq
summ$rq_se <- summ$rq * sqrt((log(E) * summ$cq_se)^2 + (dcq * E_se / E)^2)
refs <- c("cel-miR-39-3p", "hsa-miR-191-5p")
summ$nf <- NA; summ$nf_se <- NA
for (i in seq_len(nrow(summ))) {
  r <- summ[summ$run_id == summ$run_id[i] & summ$sample_id == summ$sample_id[i] & summ$target %in% refs, ]
  f <- nrow(r)
  summ$nf[i] <- prod(r$rq)^(1 / f)
  summ$nf_se[i] <- summ$nf[i] * sqrt(sum((r$rq_se / (f * r$rq))^2))
}
summ$nrq <- summ$rq / summ$nf
summ$nrq_se <- summ$nrq * sqrt((summ$rq_se / summ$rq)^2 + (summ$nf_se / summ$nf)^2)
# Calibration factor per run and target: geometric mean of the IRCs' NRQs in that run.
ircs <- c("IRC1", "IRC2")
summ$cf <- NA; summ$cf_se <- NA
for (i in seq_len(nrow(summ))) {
  r <- summ[summ$run_id == summ$run_id[i] & summ$target == summ$target[i] & summ$sample_id %in% ircs, ]
  m <- nrow(r)
  if (m == 0) next
  summ$cf[i] <- prod(r$nrq)^(1 / m)
  summ$cf_se[i] <- summ$cf[i] * sqrt(sum((r$nrq_se / (m * r$nrq))^2))
}
summ$cnrq <- summ$nrq / summ$cf
summ$cnrq_se <- summ$cnrq * sqrt((summ$nrq_se / summ$nrq)^2 + (summ$cf_se / summ$cf)^2)
rel <- obj(list(
  run_id = str_(summ$run_id), sample_id = str_(summ$sample_id), target = str_(summ$target),
  mean_cq = num(summ$mean_cq), sd_cq = num(summ$sd_cq), rq = num(summ$rq), rq_se = num(summ$rq_se),
  nf = num(summ$nf), nf_se = num(summ$nf_se), nrq = num(summ$nrq), nrq_se = num(summ$nrq_se),
  cf = num(summ$cf), cf_se = num(summ$cf_se), cnrq = num(summ$cnrq), cnrq_se = num(summ$cnrq_se)
))

# ---- geNorm (Vandesompele et al. 2002) ------------------------------------------------
genorm <- function(x) {                     # x: samples x genes, linear quantities
  l <- log2(as.matrix(x)); steps <- list(); V <- c()
  repeat {
    k <- ncol(l)
    M <- sapply(seq_len(k), function(j) sum(sapply(seq_len(k)[-j], function(h) sd(l[, j] - l[, h]))) / (k - 1))
    names(M) <- colnames(l)
    steps[[length(steps) + 1]] <- obj(list(genes = str_(names(M)), m = num(unname(M))))
    if (k == 2) break
    w <- which.max(M)
    V <- c(V, sd(rowMeans(l[, -w, drop = FALSE]) - rowMeans(l)))
    names(V)[length(V)] <- paste0(k - 1, "/", k)
    l <- l[, -w, drop = FALSE]
  }
  V <- rev(V)
  obj(list(steps = paste0("[", paste(unlist(steps), collapse = ", "), "]"),
           v_names = str_(names(V)), v = num(unname(V))))
}
vand <- read.csv(file.path(data_dir, "vandesompele2002.csv"), check.names = FALSE)
gen <- list()
for (tissue in unique(vand$tissue)) gen[[tissue]] <- genorm(vand[vand$tissue == tissue, -(1:2)])

# ---- NormFinder (Andersen et al. 2004), written from the paper's supplement -----------
nf_var <- function(y) {                     # y: samples x genes, log2; per-gene variance
  n <- nrow(y); k <- ncol(y)
  r <- sweep(sweep(y, 2, colMeans(y)), 1, rowMeans(y)) + mean(y)
  s2 <- colSums(r^2) / (n - 1)
  v <- (s2 - sum(s2) / (k * (k - 1))) / (1 - 2 / k)
  minv <- sapply(seq_len(k), function(g) min(sapply(seq_len(k)[-g], function(h) var(y[, g] - y[, h]))) / 4)
  ifelse(v < 0, minv, v)
}
normfinder <- function(y, grp = NULL) {
  if (is.null(grp)) return(sqrt(nf_var(y)))
  lev <- sort(unique(grp)); k <- ncol(y)
  v <- sapply(lev, function(g) nf_var(y[grp == g, , drop = FALSE]))
  mu <- sapply(lev, function(g) colMeans(y[grp == g, , drop = FALSE]))
  ni <- sapply(lev, function(g) sum(grp == g))
  d <- mu - outer(rowMeans(mu), rep(1, length(lev))) - outer(rep(1, k), colMeans(mu)) + mean(mu)
  vd <- sweep(v, 2, ni, "/")
  gam <- max(sum(d^2) / ((length(lev) - 1) * (k - 1)) - mean(vd), 0)
  rowMeans(abs(d * gam / (gam + vd)) + sqrt(vd + gam * vd / (gam + vd)))
}
colon <- read.csv(file.path(data_dir, "andersen2004_colon.csv"), check.names = FALSE)
ylog <- log2(as.matrix(colon[, -(1:2)]))
nfo <- list(
  genes = str_(colnames(ylog)),
  no_group = num(unname(normfinder(ylog))),
  groups = num(unname(normfinder(ylog, colon$group)))
)
bm <- log2(as.matrix(vand[vand$tissue == "BM", -(1:2)]))
nfo$bm_genes <- str_(colnames(bm))
nfo$bm_no_group <- num(unname(normfinder(bm)))
# A data set whose unbiased variance is negative for three genes (Cq, log2 scale already).
neg <- read.csv(file.path(data_dir, "normfinder_negative_variance.csv"), check.names = FALSE)
nfo$negative_genes <- str_(colnames(neg)[-1])
nfo$negative_no_group <- num(unname(normfinder(as.matrix(neg[, -1]))))

out <- obj(list(
  r_version = paste0("\"", R.version.string, "\""),
  curves = obj(curve_out), pooled = pooled, relative = rel, genorm = obj(gen), normfinder = obj(nfo)
))
writeLines(out, "quantification_reference.json")
