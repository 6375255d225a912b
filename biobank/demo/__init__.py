"""The SYNTHETIC demo cohort behind `manage.py seed_demo`.

Nothing here is patient data: `cohort` generates, from a seed, a cohort shaped
like Table I of the study (75 HCC patients, serum before and ~7 days after
TACE, exosomal miR-122 / miR-21 by RT-qPCR), and `loader` writes it into the
sample-chain models with bulk inserts. Its QC cases (a few haemolysed draws with
the miR-23a-3p / miR-451a panel that shows them, one failed spike-in, one plate
with contaminated no-template controls) are synthetic too.
"""

from .cohort import DEFAULT_PATIENTS, DEFAULT_SEED, Cohort, generate_cohort

__all__ = ["DEFAULT_PATIENTS", "DEFAULT_SEED", "Cohort", "generate_cohort"]
