"""Bring a cohort table from elsewhere, to analyse with `analyse --dataset NAME`."""

from django.core.management.base import BaseCommand, CommandError

from analysis.cohort import CohortFormatError
from analysis.services import cohort_dataset_import


class Command(BaseCommand):
    help = "Import a cohort CSV (the export_cohort columns; unknown columns are kept as extra variables)."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--name", required=True, help="Name to analyse it by (a slug)")
        parser.add_argument("--replace", action="store_true", help="Replace a dataset of that name")

    def handle(self, *args, file, name, replace, **options):
        try:
            with open(file, "rb") as stream:
                dataset = cohort_dataset_import(name=name, stream=stream, replace=replace)
        except (OSError, CohortFormatError) as error:
            raise CommandError(f"{file}: {error}") from error
        extra = (
            f"; extra variables: {', '.join(dataset.extra_columns)}"
            if dataset.extra_columns
            else ""
        )
        self.stdout.write(f"Imported {dataset.rows} patients as {dataset.name!r}{extra}")
