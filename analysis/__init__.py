import os

# One BLAS thread for the statistics. Their matrices are tiny (a Cox model has a few
# terms), so BLAS threads never pay; on a busy machine OpenBLAS's spinning threads made
# Table IV's 17 models take 12 s instead of 4 s at 50,000 patients (bench/README.md,
# "Analysis"). The variable is read when numpy loads, and this package is imported at
# Django start-up, before the analysis chain (tests/test_startup.py); a value already
# set by the environment wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
