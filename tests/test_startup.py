"""Processes that do not analyse start without the statistics stack (issue 16).

Every process (the web server, the worker, `manage.py check`, any command) loads
the models, their signals (analysis.triggers), the URLconf and the admin. None of that
may import pandas, scipy, matplotlib or the analysis chain: they are imported where a
run, a figure, a cohort frame or a QC table is computed. The check runs in a fresh
interpreter, since this test process has imported everything already.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The statistics stack and the modules of the analysis chain that use it.
HEAVY_PACKAGES = ("scipy", "pandas", "matplotlib", "lifelines", "statsmodels", "reportlab")
HEAVY_MODULES = ("analysis.engine", "analysis.figures", "analysis.cohort", "analysis.plans")
HEAVY_PREFIXES = ("analysis.stats",)

START_UP = """
import json, sys
import django
django.setup()
from django.conf import settings
from django.contrib import admin
from django.core.management import call_command
from django.urls import get_resolver

admin.autodiscover()
get_resolver(settings.ROOT_URLCONF).url_patterns  # imports every view module
call_command("check")
print(json.dumps(sorted(sys.modules)))
"""


def loaded_at_start_up() -> set[str]:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "biobank.settings"}
    done = subprocess.run(
        [sys.executable, "-c", START_UP],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def heavy(modules: set[str]) -> list[str]:
    return sorted(
        name
        for name in modules
        if name.split(".")[0] in HEAVY_PACKAGES
        or name in HEAVY_MODULES
        or name.startswith(HEAVY_PREFIXES)
    )


def test_start_up_imports_no_statistics_stack():
    modules = loaded_at_start_up()
    # The check reached the code it is about: the app's models, signals, admin, views.
    assert {"analysis.triggers", "analysis.admin", "analysis.views", "biobank.api.views"} <= modules
    loaded = heavy(modules)
    assert loaded == [], f"imported at start-up: {', '.join(loaded[:20])}"


def test_the_heavy_list_catches_the_statistics_stack():
    """The filter above is not vacuous: an analysis run's modules are in it."""
    assert heavy({"pandas.core.frame", "scipy", "analysis.stats.cox", "analysis.engine"}) == [
        "analysis.engine",
        "analysis.stats.cox",
        "pandas.core.frame",
        "scipy",
    ]
    assert heavy({"analysis.triggers", "analysis.report", "pandas_extra"}) == []


def imported_modules(path: Path) -> set[str]:
    """Every module a source file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_tasks_never_import_triggers():
    """The dependency is one-way: triggers decides which plans run and hands them to the
    tasks; the tasks (request_run, the nightly job) never import triggers back."""
    assert "analysis.triggers" not in imported_modules(ROOT / "analysis" / "tasks.py")
    assert "analysis.tasks" in imported_modules(ROOT / "analysis" / "triggers.py")
