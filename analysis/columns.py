"""The cohort table's column names (plain data, no pandas).

Kept apart from analysis.cohort so that what only needs the names (the re-analysis
triggers, loaded in every process through the models' signals) does not import the
statistics stack; analysis.cohort re-exports them.
"""

BASELINE_COLUMNS = [
    "study_id", "sex", "age_years", "liver_background", "etiology", "hbv", "type2_diabetes",
    "tace_date", "bclc_stage", "ast_iu_l", "alt_iu_l", "hba1c_percent", "total_bilirubin_mg_dl",
    "albumin_g_dl", "pt_percent", "platelets_1e4_ul", "ascites", "encephalopathy",
    "child_pugh_score", "child_pugh_grade", "afp_ng_ml", "dcp_mau_ml", "tumour_diameter_cm",
    "tumour_number",
]  # fmt: skip
EXPRESSION_SUFFIXES = [
    "pre_dcq", "pre_rel", "pre_log10", "post_dcq", "post_rel", "post_log10", "ratio", "fold_change",
    "pre_qc", "pre_qc_reasons", "pre_qc_rules", "post_qc", "post_qc_reasons", "post_qc_rules",
]  # fmt: skip
QC_SUFFIXES = ("_qc", "_qc_reasons", "_qc_rules")
SURVIVAL_COLUMNS = ["last_contact_date", "vital_status", "dss_months", "dss_event"]
# Which patients have what: the plan's inclusion criteria read these (analysis.gate).
STATUS_COLUMNS = ["baseline_present", "pre_drawn", "post_drawn"]

# Column types the CSV reader restores (everything else numeric is read as a number,
# text as text: unknown columns are kept as extra variables).
TEXT_COLUMNS = {
    "study_id", "sex", "liver_background", "etiology", "bclc_stage", "ascites", "encephalopathy",
    "child_pugh_grade", "vital_status",
}  # fmt: skip
BOOLEAN_COLUMNS = {"hbv", "type2_diabetes", "dss_event", *STATUS_COLUMNS}
DATE_COLUMNS = {"tace_date", "last_contact_date"}
INTEGER_COLUMNS = {"age_years", "child_pugh_score", "tumour_number"}


def expression_columns(prefixes) -> list[str]:
    """The expression columns of each assay prefix (mir122 -> mir122_pre_dcq, ...)."""
    return [f"{prefix}_{suffix}" for prefix in prefixes for suffix in EXPRESSION_SUFFIXES]


# Line end of the CSV export (analysis.cohort.write_cohort_csv says why CRLF); the reader
# takes any. Here, not in analysis.cohort, so that streaming a stored export (the cohort
# snapshot) needs no pandas.
LINE_END = "\r\n"
