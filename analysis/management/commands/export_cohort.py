"""Write the analysis-ready cohort table (CSV or JSON), streamed in constant memory.

Read from the cohort snapshot (biobank.selectors.cohort_cache): built and stored on
the first export after a change, then streamed as stored.

The same writer serves /api/v1/export/cohort.csv|json (biobank.api.exports), so the
command and the API give identical content for the same data and export time.
"""

import sys

from django.core.management.base import BaseCommand, CommandError

from biobank.api.exports import CHUNK_PATIENTS, FORMATS, prepare_cohort_export


class Command(BaseCommand):
    help = (
        "Write the cohort table, one row a consenting patient, never identities (docs/cohort.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--output", "-o", help="File to write (default: standard output)")
        parser.add_argument("--format", choices=FORMATS, default="csv")
        parser.add_argument(
            "--chunk-size",
            type=int,
            default=CHUNK_PATIENTS,
            help=f"Patients computed at a time (default {CHUNK_PATIENTS}) when no snapshot "
            "can be used; memory follows it",
        )
        parser.add_argument("--exported-at", help="Export time to state (ISO 8601; default: now)")

    def handle(
        self,
        *args,
        output=None,
        format="csv",
        chunk_size=CHUNK_PATIENTS,
        exported_at=None,
        **options,
    ):
        if chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1")
        export = prepare_cohort_export(format, chunk_size=chunk_size, exported_at=exported_at)
        stream = open(output, "w", encoding="utf-8", newline="") if output else sys.stdout  # noqa: SIM115
        try:
            for text in export.stream():
                stream.write(text)
        finally:
            if output:
                stream.close()
        if output:
            self.stderr.write(f"Wrote {export.patients} patients to {output}")
