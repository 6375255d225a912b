"""`manage.py read_export FILE`: show what the qPCR parser reads, without the database.

For checking an instrument export before importing it, and for reporting a parser
problem with the exact wells and flags it produced.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from biobank.instruments import FORMATS, ExportParseError, ParsedExport, ParsedWell, parse_export
from biobank.instruments.base import LAYOUT_ONLY


class Command(BaseCommand):
    help = "Parse a qPCR instrument export and print what was read (the database is not used)."
    requires_system_checks: list[str] = []  # reading a file must work before migrations

    def add_arguments(self, parser):
        parser.add_argument("file", help="instrument export (LC480, ABI, Bio-Rad CFX, RDML)")
        parser.add_argument(
            "--format",
            default="auto",
            choices=["auto", *FORMATS],
            help="skip sniffing and read the file as this format",
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **options):
        path = Path(options["file"])
        try:
            data = path.read_bytes()
        except OSError as error:
            raise CommandError(f"cannot read {path}: {error.strerror or error}") from error
        try:
            export = parse_export(data, format=options["format"], filename=path.name)
        except ExportParseError as error:
            raise CommandError(f"{path.name}: {error}") from error
        self.stdout.write(as_json(export) if options["json"] else as_text(export))


def as_json(export: ParsedExport) -> str:
    return json.dumps(
        {
            "format": export.format,
            "instrument": export.instrument,
            "plate_size": export.plate_size,
            "metadata": export.metadata,
            "warnings": list(export.warnings),
            "wells": [
                {
                    "position": well.position,
                    "sample_name": well.sample_name,
                    "target": well.target,
                    "cq": well.cq,
                    "run": well.run,
                    "dye": well.dye,
                    "flags": list(well.flags),
                    "line": well.line,
                }
                for well in export.wells
            ],
        },
        indent=2,
        ensure_ascii=False,
    )


def as_text(export: ParsedExport) -> str:
    undetermined = sum(1 for well in export.wells if well.cq is None)
    lines = [
        f"Instrument: {export.instrument}",
        f"Format: {export.format}",
        f"Plate size: {export.plate_size or 'unknown'}",
        f"Wells: {len(export.wells)} ({undetermined} without Cq)",
        *(f"Metadata: {key} = {value}" for key, value in export.metadata.items()),
        *(f"Warning: {warning}" for warning in export.warnings),
        "",
        "\t".join(["run", "position", "sample", "target", "dye", "cq", "flags"]),
    ]
    lines += ["\t".join(_well_fields(well)) for well in export.wells]
    return "\n".join(lines)


def _well_fields(well: ParsedWell) -> list[str]:
    if well.cq is not None:
        cq = repr(well.cq)
    else:
        cq = "no Cq (layout)" if LAYOUT_ONLY in well.flags else "undetermined"
    return [
        well.run or "-",
        well.position,
        well.sample_name,
        well.target,
        well.dye,
        cq,
        ",".join(well.flags),
    ]
