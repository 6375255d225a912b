"""`celery` for the integration tests: the real command, with an optional slow-down.

EXOTRACK_TEST_RUN_DELAY=<seconds> makes every computed run (not a fingerprint hit)
sleep that long first, so a test can act while a run is under way: edit the data,
start a second worker, or SIGKILL this one. Everything else is `celery -A biobank ...`.
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "biobank.settings")

import django  # noqa: E402

django.setup()

DELAY = float(os.environ.get("EXOTRACK_TEST_RUN_DELAY") or 0)
if DELAY:
    from analysis import engine  # analysis.services imports run_plan from it per run

    compute = engine.run_plan

    def slow_run_plan(*args, **kwargs):
        time.sleep(DELAY)
        return compute(*args, **kwargs)

    engine.run_plan = slow_run_plan

from celery.__main__ import main  # noqa: E402

if __name__ == "__main__":
    sys.argv[0] = "celery"
    sys.exit(main())
