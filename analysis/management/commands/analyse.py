"""Run an analysis plan in this process and say where its report is."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse
from django.utils.text import slugify

from analysis.engine import analysis_errors
from analysis.models import AnalysisPlan, AnalysisRun, CohortDataset
from analysis.services import analysis_run
from analysis.stats._json import json_safe


class Command(BaseCommand):
    help = "Run a plan (default: the paper's) on the live data or an imported cohort."

    def add_arguments(self, parser):
        parser.add_argument("--plan", default="paper-default", help="Plan name")
        parser.add_argument(
            "--plan-file",
            help="A plan as JSON; stored (or updated) under --plan or the file's name",
        )
        parser.add_argument(
            "--dataset", help="An imported cohort's name (default: the live database)"
        )
        parser.add_argument("--json", action="store_true", help="Print every result as JSON")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def handle(self, *args, plan, plan_file, dataset, json: bool, base_url, **options):
        plan_obj = self._plan(plan, plan_file)
        dataset_obj = None
        if dataset:
            dataset_obj = CohortDataset.objects.filter(name=dataset).first()
            if dataset_obj is None:
                raise CommandError(
                    f"No imported cohort named {dataset!r}; import it with import_cohort"
                )
        run = analysis_run(plan=plan_obj, trigger=AnalysisRun.Trigger.COMMAND, dataset=dataset_obj)
        shown = run.same_as or run
        if json:
            self.stdout.write(self._as_json(run, shown))
        else:
            self._summary(run, shown, base_url)
        if run.status == AnalysisRun.Status.FAILED:
            raise CommandError(run.error.splitlines()[0])

    def _plan(self, name, plan_file):
        if plan_file:
            path = Path(plan_file)
            try:
                spec = json.loads(path.read_text())
            except (OSError, ValueError) as error:
                raise CommandError(f"{plan_file}: {error}") from error
            slug = slugify(name if name != "paper-default" else path.stem)
            plan, _ = AnalysisPlan.objects.update_or_create(
                name=slug, defaults={"title": spec.get("description", slug)[:200], "spec": spec}
            )
            return plan
        try:
            return AnalysisPlan.objects.get(name=name)
        except AnalysisPlan.DoesNotExist:
            known = ", ".join(AnalysisPlan.objects.values_list("name", flat=True))
            raise CommandError(f"No plan named {name!r}; plans: {known}") from None

    def _as_json(self, run, shown) -> str:
        """Everything the report shows, as data: a script can check any number of it.

        `results` (the flat rows) is kept for scripts written before `rows` existed."""
        errors = analysis_errors(shown.results)
        notes = shown.figure_notes or {}
        payload = {
            "run": run.pk,
            "plan": run.plan.name,
            "dataset": run.dataset.name if run.dataset_id else None,
            "status": run.status,
            "fingerprint": run.fingerprint,
            "results_of_run": shown.pk,
            "n_patients": shown.n_patients,
            "error": run.error or None,
            "errors": errors,  # analysis name -> error, for a run that succeeded overall
            "analyses_failed": len(errors),
            "analyses_run": len(shown.results or []),
            "results": shown.rows,
            "rows": shown.rows,  # with q (Benjamini-Hochberg, per family) and details
            "analyses": shown.results,  # per analysis: its full result payload and error
            "options": shown.options or None,
            "dictionary": shown.dictionary or None,
            "qc": shown.qc or None,  # the gate: policy, flow, what was left out, sensitivity
            "figures": [
                {"name": name, "alt": None, "error": None, **(notes.get(name) or {})}
                for name in sorted(set(shown.figures or {}) | set(notes))
            ],
            "previous_run": shown.previous_id,
            "diff": shown.diff or None,
            "cause": _cause(run),  # what made this run
            "cause_of_results": None if shown.pk == run.pk else _cause(shown),
            "versions": shown.versions or {},
            "started_at": shown.started_at,
            "finished_at": shown.finished_at,
        }
        return json.dumps(json_safe(payload), indent=1)

    def _summary(self, run, shown, base_url):
        self.stdout.write(f"Run #{run.pk} of plan {run.plan.name}: {run.get_status_display()}")
        if run.status == AnalysisRun.Status.FAILED:
            return
        if run.same_as_id:
            self.stdout.write(
                f"The data are unchanged since run #{run.same_as_id}; its results stand."
            )
        self.stdout.write(f"{run.n_patients} patients, input fingerprint {run.fingerprint[:16]}…")
        qc = shown.qc or {}
        if qc.get("flow"):
            analysed = qc["flow"][-1]["n"]
            self.stdout.write(
                f"QC: {qc.get('policy_label', qc.get('policy'))}; {analysed} patients analysed, "
                f"{len(qc.get('excluded_patients', []))} left out, "
                f"{len(qc.get('excluded_measurements', []))} measurements left out"
            )
        moved = len((shown.diff or {}).get("moved", []))
        crossed = len((shown.diff or {}).get("crossed_0_05", []))
        if shown.previous_id and not run.same_as_id:
            self.stdout.write(
                f"Against run #{shown.previous_id}: {moved} numbers moved, {crossed} P values crossed 0.05"
            )
        errors = analysis_errors(shown.results)
        if errors:
            self.stdout.write(f"{len(errors)} of {len(shown.results)} analyses failed:")
            for message in errors.values():
                self.stdout.write(f"  {message}")
        self.stdout.write(f"Report: {base_url}{reverse('analysis:run', args=[shown.pk])}")


def _cause(run) -> dict:
    """What triggered a run: how, by whom, and the trigger's own record (the import,
    edit or task behind it, in ``parameters``)."""
    return {
        "trigger": run.trigger,
        "requested_by": run.requested_by.get_username() if run.requested_by_id else None,
        "parameters": run.parameters or {},
    }
