"""Bring a cohort table from elsewhere, to analyse with `analyse --dataset NAME`.

The table comes with its data dictionary (docs/cohort.md, "Bringing your own cohort"):
`--dictionary FILE.json`, or declared in the file's '#' header lines. Without either,
the dictionary inferred from the table is printed as JSON, to save, edit and pass back
with `--dictionary`, or to accept as it is with `--confirm`.
"""

import json

from django.core.management.base import BaseCommand, CommandError

from analysis.cohort import CohortFormatError
from analysis.dictionary import DictionaryNotConfirmed
from analysis.services import cohort_dataset_import


class Command(BaseCommand):
    help = (
        "Import a cohort CSV with its data dictionary (the export_cohort columns need none; "
        "unknown columns are kept as extra variables)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--name", required=True, help="Name to analyse it by (a slug)")
        parser.add_argument("--replace", action="store_true", help="Replace a dataset of that name")
        parser.add_argument(
            "--dictionary",
            metavar="FILE.json",
            help="What the columns mean (types, levels, event coding, time unit)",
        )
        parser.add_argument(
            "--confirm",
            action="store_true",
            help="Accept the dictionary inferred from the table (run once without it to see it)",
        )

    def handle(self, *args, file, name, replace, dictionary=None, confirm=False, **options):
        declared = self._declared(dictionary)
        try:
            with open(file, "rb") as stream:
                dataset = cohort_dataset_import(
                    name=name, stream=stream, dictionary=declared, confirm=confirm, replace=replace
                )
        except DictionaryNotConfirmed as error:
            self.stdout.write(error.dictionary.to_json())
            raise CommandError(
                f"{file}: {error}. The inferred dictionary is printed above: save it to a file, "
                "correct it (types, levels, the event coding, time_unit) and pass it with "
                "--dictionary FILE.json, or accept it as it is with --confirm."
            ) from error
        except CohortFormatError as error:
            if error.dictionary is not None:
                self.stdout.write(error.dictionary.to_json())
                raise CommandError(
                    f"{file}: {error}\nThe dictionary inferred from the table is printed above: "
                    "save it, correct it and pass it with --dictionary FILE.json."
                ) from error
            raise CommandError(f"{file}: {error}") from error
        except OSError as error:
            raise CommandError(f"{file}: {error}") from error
        extra = (
            f"; extra variables: {', '.join(dataset.extra_columns)}"
            if dataset.extra_columns
            else ""
        )
        source = dataset.dictionary.get("source", "")
        self.stdout.write(
            f"Imported {dataset.rows} patients as {dataset.name!r} "
            f"(dictionary: {source}; time in {dataset.dictionary.get('time_unit')}){extra}"
        )

    def _declared(self, path):
        if not path:
            return None
        try:
            with open(path, encoding="utf-8") as handle:
                return json.load(handle)
        except OSError as error:
            raise CommandError(f"{path}: {error}") from error
        except json.JSONDecodeError as error:
            raise CommandError(f"{path}: not JSON: {error}") from error
