"""manage.py seed_demo: load a SYNTHETIC demo cohort.

The cohort is generated from a seed (biobank.demo.cohort), not taken from any
patient: it is only shaped like Table I of the study (75 HCC patients, serum
before and ~7 days after TACE, exosomal miR-122 / miR-21 RT-qPCR), so that
every page, export and analysis has something realistic to show.
"""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, transaction

from biobank import roles
from biobank.demo.cohort import DEFAULT_PATIENTS, DEFAULT_SEED, STUDY_ID_PREFIX, generate_cohort
from biobank.demo.loader import (
    DEMO_PASSWORD,
    Stopwatch,
    delete_demo,
    demo_footprint,
    demo_patients,
    ensure_demo_users,
    load_cohort,
    stored_seed,
)
from biobank.models import Patient


class Command(BaseCommand):
    help = (
        "Load a SYNTHETIC demo cohort: generated from a seed, NOT patient data, shaped like "
        "the study's Table I (75 HCC patients before/after TACE with serum draws, aliquots "
        "in -80 °C boxes, exosome/RNA/RT processing, qPCR plates with Cq values and "
        f"follow-up). Demo objects carry the study-id prefix '{STUDY_ID_PREFIX}'. Re-running "
        "with the same size does nothing; --reset deletes the demo cohort (and only it) and "
        "rebuilds it."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--patients",
            type=int,
            default=DEFAULT_PATIENTS,
            help=f"Number of synthetic patients (default {DEFAULT_PATIENTS}, the study's size; "
            "Table I's counts are exact at 75, proportional otherwise).",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=DEFAULT_SEED,
            help=f"Random seed (default {DEFAULT_SEED}); the same seed gives the same data.",
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Delete the demo cohort and everything hanging from it, then rebuild it.",
        )
        parser.add_argument(
            "--users",
            action="store_true",
            help="Also create the demo logins curator, technician and analyst (in the groups "
            f"of those names) with the password '{DEMO_PASSWORD}'. Existing users keep "
            "their password.",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Seed only when the database holds no patient at all; otherwise say so, "
            "change nothing (but --users) and succeed. `make demo` uses it, so that a "
            "second `make demo` keeps what a user did in the first.",
        )

    def handle(self, *args, patients, seed, reset, users, if_empty, **options):
        if patients < 1:
            raise CommandError("--patients must be at least 1")
        if not 0 <= seed < 2**63:
            raise CommandError("--seed must be a non-negative integer")
        if if_empty and reset:
            raise CommandError("--if-empty and --reset contradict each other; pass one")
        if if_empty and Patient.objects.exists():
            self.stdout.write(
                f"The database holds {Patient.objects.count()} patients already: not seeding "
                "(--if-empty), the data stay as they are. To rebuild the demo cohort: "
                "seed_demo --reset."
            )
            if users:
                with transaction.atomic():
                    self._users()
            return
        clock = Stopwatch()
        self.stdout.write(
            f"ExoTrack demo: a SYNTHETIC cohort of {patients} patients (seed {seed}); "
            "generated data, not patients."
        )
        try:
            with transaction.atomic():
                self._seed(patients, seed, reset, clock)
                if users:
                    self._users()
        except DatabaseError as error:
            raise CommandError(f"Seeding failed and was rolled back: {error}") from error
        self.stdout.write(self.style.SUCCESS(f"Done in {clock.total():.1f} s."))

    def _progress(self, clock: Stopwatch, verb: str):
        def report(stage: str, count: int) -> None:
            self.stdout.write(f"  {verb} {stage:<24} {count:>8,}  {clock.lap():6.2f} s")

        return report

    def _seed(self, patients: int, seed: int, reset: bool, clock: Stopwatch) -> None:
        if reset:
            self.stdout.write("Deleting the demo cohort:")
            deleted = delete_demo(progress=self._progress(clock, "deleted"))
            self.stdout.write(f"Deleted {sum(deleted.values()):,} rows.")
        existing = demo_patients().count()
        if existing == patients:
            previous = stored_seed()
            note = (
                f" (it was built with seed {previous}; pass --reset to rebuild with seed {seed})"
                if previous is not None and previous != seed
                else ""
            )
            self.stdout.write(
                f"The demo cohort of {existing} patients already exists{note}; nothing to do."
            )
            return
        if existing:
            raise CommandError(
                f"A demo cohort of {existing} patients exists; pass --reset to replace it "
                f"with {patients} patients."
            )
        # Demo freezers are reused by name, so they may stay; anything else must go first.
        leftovers = {
            name: count for name, count in demo_footprint().items() if count and name != "freezers"
        }
        if leftovers:
            listed = ", ".join(f"{count} {name}" for name, count in leftovers.items())
            raise CommandError(f"Demo objects are left over ({listed}); pass --reset.")

        self.stdout.write("Generating:")
        cohort = generate_cohort(patients, seed)
        self._progress(clock, "generated")("patients", patients)
        self.stdout.write("Loading:")
        counts = load_cohort(cohort, progress=self._progress(clock, "created"))
        self.stdout.write(f"Created {sum(counts.values()):,} rows.")

    def _users(self) -> None:
        missing = [role for role in roles.ROLES if not Group.objects.filter(name=role).exists()]
        if missing:
            raise CommandError(
                f"Group(s) {', '.join(missing)} missing: run `manage.py migrate` first."
            )
        self.stdout.write(f"Demo logins (password '{DEMO_PASSWORD}'):")
        for username, group, is_staff, password_works in ensure_demo_users():
            flags = "staff, admin read-only" if group == roles.TECHNICIAN else ""
            if group == roles.CURATOR:
                flags = "staff, admin"
            if not is_staff:
                flags = "no admin"
            password = (
                DEMO_PASSWORD
                if password_works
                else "(existing user: password left unchanged, not the demo one)"
            )
            self.stdout.write(f"  {username:<11} group {group:<10} {flags:<24} {password}")
