"""Write the analysis-ready cohort table (CSV or JSON)."""

import json
import sys

from django.core.management.base import BaseCommand
from django.utils import timezone

from analysis.cohort import export_header_lines, fingerprint, write_cohort_csv
from analysis.services import load_cohort
from analysis.stats._json import json_safe


class Command(BaseCommand):
    help = (
        "Write the cohort table, one row a consenting patient, never identities (docs/cohort.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--output", "-o", help="File to write (default: standard output)")
        parser.add_argument("--format", choices=["csv", "json"], default="csv")

    def handle(self, *args, output=None, format="csv", **options):
        table = load_cohort()
        exported_at = timezone.now().isoformat(timespec="seconds")
        stream = open(output, "w", encoding="utf-8", newline="") if output else sys.stdout  # noqa: SIM115
        try:
            if format == "csv":
                write_cohort_csv(
                    table, stream, header_lines=export_header_lines(table, exported_at=exported_at)
                )
            else:
                json.dump(
                    {
                        "fingerprint": f"sha256:{fingerprint(table)}",
                        "exported_at": exported_at,
                        "patients": json_safe(table.to_dict(orient="records")),
                    },
                    stream,
                    indent=1,
                )
                stream.write("\n")
        finally:
            if output:
                stream.close()
        if output:
            self.stderr.write(f"Wrote {len(table)} patients to {output}")
