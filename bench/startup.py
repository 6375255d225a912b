"""How long a process takes to start: `manage.py check` beside its peers, each in a
fresh interpreter, interleaved round by round, median of N (issue 16).

    .venv/bin/python bench/startup.py [--repeats 15] [--also /path/to/other/checkout]

- `manage.py check`: settings, every app's models and signals (analysis.triggers),
  the admin, the URLconf and every view module it names, the system checks. What
  every web process, worker and command pays before doing anything.
- peer: `django.setup()` alone, with the same settings (the floor: Django, DRF,
  Celery's app, the models).
- the old cost: `import scipy.stats, pandas, matplotlib.pyplot`, what the analysis
  chain loads (a bare `import scipy` is lazy and costs nearly nothing) and what every
  process paid before issue 16 through analysis.tasks.
- `--also PATH`: `manage.py check` of another checkout (e.g. main before the change),
  in the same rounds, for a before/after pair measured under the same load.

No database is touched (the check runs no database checks); DATABASE_URL defaults to
the benches' scratch SQLite file as in bench/_django.py. Prints the configuration.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", "sqlite:////tmp/exotrack-bench.sqlite3")
    env.setdefault("DJANGO_SETTINGS_MODULE", "biobank.settings")
    return env


def commands(also: Path | None) -> dict[str, tuple[list[str], Path]]:
    python = sys.executable
    found = {
        "manage.py check": ([python, "manage.py", "check"], ROOT),
        "peer: django.setup() alone": (
            [python, "-c", "import django; django.setup()"],
            ROOT,
        ),
        "old cost: import scipy.stats, pandas, matplotlib.pyplot": (
            [python, "-c", "import scipy.stats, pandas, matplotlib.pyplot"],
            ROOT,
        ),
    }
    if also is not None:
        found[f"manage.py check in {also}"] = ([python, "manage.py", "check"], also)
    return found


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed in {cwd}:\n{done.stderr}")
    return elapsed


def configuration(env: dict[str, str]) -> list[str]:
    revision = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return [
        f"python {platform.python_version()} ({sys.executable})",
        f"tree {ROOT} at {revision or '?'}",
        f"settings {env['DJANGO_SETTINGS_MODULE']}, database {env['DATABASE_URL']}",
        f"broker {env.get('CELERY_BROKER_URL') or 'none (eager, the embedded default)'}",
        f"cpus {os.cpu_count()}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--also", type=Path, help="another checkout to time manage.py check in")
    arguments = parser.parse_args()
    env = environment()
    runs = commands(arguments.also)
    for line in configuration(env):
        print(line)
    for command, cwd in runs.values():  # warm the file cache and the .pyc files
        timed(command, cwd, env)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(arguments.repeats):
        for name, (command, cwd) in runs.items():  # interleaved: each round sees one load
            times[name].append(timed(command, cwd, env))
    check = statistics.median(times["manage.py check"])
    print(f"\nmedian of {arguments.repeats}, interleaved, wall time of the whole process:")
    width = max(len(name) for name in runs)
    for name, values in times.items():
        median = statistics.median(values)
        print(
            f"  {name:<{width}}  {median:6.3f} s  (min {min(values):.3f}, max {max(values):.3f})"
            f"  {median / check:5.2f}x check"
        )
    print("\ngoal (issue 16): manage.py check under 1.5 s on an idle machine")


if __name__ == "__main__":
    main()
