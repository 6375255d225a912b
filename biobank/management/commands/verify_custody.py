"""manage.py verify_custody: recompute every tube's custody hash chain.

For an inspection, or a nightly job: it reads the log only, prints each broken link
(tube, event, what no longer matches) and exits with status 1 when anything is
broken, so a scheduler or CI notices. Keep the printed heads digest somewhere
outside the database: a later run with a different digest over the same events
means the chains were rewritten wholesale.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from biobank.selectors.custody import custody_check
from biobank.selectors.samples import aliquot_by_barcode


class Command(BaseCommand):
    help = (
        "Recompute the hash chain of every tube's custody log (or one tube's, --aliquot "
        "BARCODE); print each broken link and exit 1 if any, else a summary."
    )

    def add_arguments(self, parser):
        parser.add_argument("--aliquot", metavar="BARCODE", help="check this tube only")

    def handle(self, *args, aliquot=None, **options):
        tube = None
        if aliquot is not None:
            tube = aliquot_by_barcode(aliquot)
            if tube is None:
                raise CommandError(f"No aliquot has the barcode {aliquot!r}")
        check = custody_check(aliquot=tube)
        for link in check.broken:
            self.stdout.write(
                f"BROKEN {link.barcode} event {link.event_id} ({link.kind}, "
                f"{link.at:%Y-%m-%d %H:%M:%S %Z}): {link.problem}"
            )
        summary = (
            f"{check.tubes} tube(s), {check.events} event(s) checked in {check.seconds:.2f} s; "
            f"heads digest {check.heads_digest}"
        )
        if check.broken:
            self.stderr.write(f"Custody chain broken at {len(check.broken)} event(s). {summary}")
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS(f"Custody chains intact: {summary}"))
