"""Write a generated SYNTHETIC cohort into the sample-chain models, and remove it again.

Everything is inserted with `bulk_create` in batches (the caller holds one
transaction), never one query per row; the primary keys bulk_create returns
(PostgreSQL and SQLite both return them) link the children to their parents.
Objects end in the state the services would have left them in: the consumed
aliquot of each draw is used up with its position cleared, and the custody log
holds its check-in and its 'consume' line. bulk_create writes no
django-simple-history rows, which is fine for a seed.

The cohort is SYNTHETIC, including its QC cases (haemolysed draws with their A414,
the haemolysis-panel plates, one failed spike-in, one plate with contaminated NTCs):
see biobank.demo.cohort.

Demo objects are recognised by their prefixes (study id 'DEMO-', box, rack,
batch and plate codes, freezer location), so `delete_demo` removes exactly
them and what hangs from them, children first.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable
from decimal import Decimal

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import router
from django.db.models import Q
from django.utils import timezone

from biobank import roles
from biobank.models import (
    Aliquot,
    Assay,
    AssayEfficiency,
    Box,
    ClinicalAssessment,
    ExosomeIsolation,
    ExosomeIsolationBatch,
    FollowUp,
    Freezer,
    Patient,
    PatientIdentity,
    QpcrPlate,
    Rack,
    ReverseTranscription,
    RnaIsolation,
    SerumDraw,
    StorageEvent,
    TemperatureExcursion,
    Treatment,
    Well,
)
from biobank.services.custody import custody_chain
from biobank.services.draws import days_after, is_outside_window

from .cohort import (
    ALIQUOT_VOLUME_UL,
    ALL_ASSAYS,
    BATCH_PREFIX,
    BOX_COLUMNS,
    BOX_PREFIX,
    BOX_ROWS,
    DEMO_LOCATION,
    PLATE_PREFIX,
    RACK_PREFIX,
    STUDY_ID_PREFIX,
    Cohort,
)

BATCH_SIZE = 5000
INSTRUMENT = "Roche LightCycler 480 II"
DEMO_PASSWORD = "exotrack-demo"
DEMO_USERS = (
    # username, group, is_staff
    (roles.CURATOR, roles.CURATOR, True),
    (roles.TECHNICIAN, roles.TECHNICIAN, True),
    (roles.ANALYST, roles.ANALYST, False),
)

Progress = Callable[[str, int], None]


# --------------------------------------------------------------------------- conversions


def _dates(values) -> list[dt.date]:
    return np.asarray(values).astype("datetime64[D]").astype(object).tolist()


def _moments(values) -> list[dt.datetime]:
    """Naive local clock times (as generated) made aware in the project's time zone, so
    that the local day of a draw is the day the cohort meant."""
    zone = timezone.get_default_timezone()
    naive = np.asarray(values).astype("datetime64[m]").astype(object).tolist()
    return [timezone.make_aware(moment, zone) for moment in naive]


def _floats(values) -> list[float | None]:
    return [None if math.isnan(value) else float(value) for value in np.asarray(values, float)]


def _ints(values) -> list[int]:
    return np.asarray(values).astype(np.int64).tolist()


def _create(model, objects: list) -> list:
    created = model.objects.bulk_create(objects, batch_size=BATCH_SIZE)
    if created and created[0].pk is None:  # a backend that cannot return ids
        raise RuntimeError(f"{model.__name__}: bulk_create returned no primary keys")
    return created


# --------------------------------------------------------------------------- load


def demo_assays() -> list[Assay]:
    """The study's three TaqMan assays and the haemolysis panel's two (miR-23a-3p,
    miR-451a), in the order of cohort.ALL_ASSAYS; created if missing (they may already
    exist, and are kept by `delete_demo`: other data may use them)."""
    return [
        Assay.objects.get_or_create(
            target=target, defaults={"vendor_assay_id": assay_id, "role": role}
        )[0]
        for target, assay_id, role in ALL_ASSAYS
    ]


def load_cohort(cohort: Cohort, *, progress: Progress | None = None) -> dict[str, int]:
    """Insert the cohort; call inside transaction.atomic(). Returns row counts by model."""
    p = cohort.patients
    counts: dict[str, int] = {}

    def stage(name: str, count: int) -> None:
        counts[name] = count
        if progress:
            progress(name, count)

    assays = demo_assays()
    stage("assays", len(assays))

    # Storage: Freezer > Rack > Box.
    freezers = [
        Freezer.objects.get_or_create(
            name=name, defaults={"location": DEMO_LOCATION, "set_point_c": -80.0}
        )[0]
        for name in cohort.freezers["name"]
    ]
    stage("freezers", len(freezers))
    racks = _create(
        Rack,
        [
            Rack(freezer=freezers[freezer], name=name)
            for freezer, name in zip(
                _ints(cohort.racks["freezer"]), cohort.racks["name"], strict=True
            )
        ],
    )
    stage("racks", len(racks))
    boxes = _create(
        Box,
        [
            Box(rack=racks[rack], name=name, barcode=barcode, rows=BOX_ROWS, columns=BOX_COLUMNS)
            for rack, name, barcode in zip(
                _ints(cohort.boxes["rack"]),
                cohort.boxes["name"],
                cohort.boxes["barcode"],
                strict=True,
            )
        ],
    )
    stage("boxes", len(boxes))

    # Patients and what hangs from them directly.
    consent = _dates(p["consent_date"])
    patients = _create(
        Patient,
        [
            Patient(
                study_id=study_id,
                sex=sex,
                age_at_enrolment=age,
                liver_background=background,
                etiology=etiology,
                type2_diabetes=diabetes,
                consent_date=consent_date,
            )
            for study_id, sex, age, background, etiology, diabetes, consent_date in zip(
                p["study_id"],
                p["sex"],
                _ints(p["age_at_enrolment"]),
                p["liver_background"],
                p["etiology"],
                p["type2_diabetes"].astype(bool).tolist(),
                consent,
                strict=True,
            )
        ],
    )
    stage("patients", len(patients))
    identities = _create(
        PatientIdentity,
        [
            PatientIdentity(
                patient=patient, full_name=name, hospital_number=number, date_of_birth=born
            )
            for patient, name, number, born in zip(
                patients,
                p["full_name"],
                p["hospital_number"],
                p["date_of_birth"],
                strict=True,
            )
        ],
    )
    stage("identities", len(identities))
    treatments = _create(
        Treatment,
        [
            Treatment(
                patient=patient,
                kind=Treatment.Kind.TACE,
                performed_on=performed_on,
                anticancer_agent=agent,
                mitomycin_c=mitomycin,
                lipiodol=lipiodol,
                gelatin_sponge_embolisation=sponge,
                is_initial=True,
            )
            for patient, performed_on, agent, mitomycin, lipiodol, sponge in zip(
                patients,
                _dates(p["tace_date"]),
                p["anticancer_agent"],
                p["mitomycin_c"].astype(bool).tolist(),
                p["lipiodol"].astype(bool).tolist(),
                p["gelatin_sponge_embolisation"].astype(bool).tolist(),
                strict=True,
            )
        ],
    )
    stage("treatments", len(treatments))

    measures = {
        name: _floats(p[name])
        for name in (
            "ast_iu_l",
            "alt_iu_l",
            "hba1c_percent",
            "total_bilirubin_mg_dl",
            "albumin_g_dl",
            "pt_percent",
            "platelets_1e4_ul",
            "afp_ng_ml",
            "dcp_mau_ml",
            "tumour_diameter_cm",
        )
    }
    assessed_on = _dates(p["assessed_on"])
    tumour_number = _ints(p["tumour_number"])
    recorded = _ints(p["child_pugh_score"])
    assessments = []
    for i, (patient, treatment) in enumerate(zip(patients, treatments, strict=True)):
        assessment = ClinicalAssessment(
            patient=patient,
            treatment=treatment,
            assessed_on=assessed_on[i],
            tumour_number=tumour_number[i],
            ascites=p["ascites"].iat[i],
            encephalopathy=p["encephalopathy"].iat[i],
            bclc_stage=p["bclc_stage"].iat[i],
            # The chart's score; it is the derived one wherever PT is known.
            child_pugh_score_recorded=recorded[i],
            **{name: values[i] for name, values in measures.items()},
        )
        assessment.derive()
        assessments.append(assessment)
    stage("assessments", len(_create(ClinicalAssessment, assessments)))

    f = cohort.follow_ups
    follow_ups = _create(
        FollowUp,
        [
            FollowUp(
                patient=patients[patient], contact_date=day, status=status, cause_of_death=cause
            )
            for patient, day, status, cause in zip(
                _ints(f["patient"]),
                _dates(f["contact_date"]),
                f["status"],
                f["cause_of_death"],
                strict=True,
            )
        ],
    )
    stage("follow-ups", len(follow_ups))

    # Serum draws, aliquots and their custody log.
    d = cohort.draws
    drawn_at = _moments(d["drawn_at"])
    centrifuged_at = _moments(d["centrifuged_at"])
    frozen_at = _moments(d["frozen_at"])
    a414 = _floats(d["a414"])
    draws = []
    for i, (patient, timepoint) in enumerate(zip(_ints(d["patient"]), d["timepoint"], strict=True)):
        treatment = treatments[patient]
        offset = days_after(treatment, drawn_at[i])
        draws.append(
            SerumDraw(
                patient=patients[patient],
                treatment=treatment,
                timepoint=timepoint,
                drawn_at=drawn_at[i],
                centrifuged_at=centrifuged_at[i],
                frozen_at=frozen_at[i],
                serum_volume_ul=Decimal(int(d["serum_volume_ul"].iat[i])),
                haemolysis=d["haemolysis"].iat[i],
                a414=a414[i],
                days_after_treatment=offset,
                outside_window=is_outside_window(timepoint, offset),
            )
        )
    draws = _create(SerumDraw, draws)
    stage("serum draws", len(draws))

    a = cohort.aliquots
    full = Decimal(ALIQUOT_VOLUME_UL)
    empty = Decimal(0)
    consumed = a["consumed"].astype(bool).tolist()
    box_index, rows, columns = _ints(a["box"]), _ints(a["row"]), _ints(a["column"])
    aliquots = _create(
        Aliquot,
        [
            Aliquot(
                barcode=barcode,
                draw=draws[draw],
                initial_volume_ul=full,
                volume_ul=empty if used else full,
                status=Aliquot.Status.USED_UP if used else Aliquot.Status.STORED,
                box=None if used else boxes[box_index[i]],
                row=None if used else rows[i],
                column=None if used else columns[i],
            )
            for i, (barcode, draw, used) in enumerate(
                zip(a["barcode"], _ints(a["draw"]), consumed, strict=True)
            )
        ],
    )
    stage("aliquots", len(aliquots))

    # Exosome isolation batches and the cDNA chain, one RT product per draw.
    b = cohort.batches
    batches = _create(
        ExosomeIsolationBatch,
        [
            ExosomeIsolationBatch(
                code=code,
                performed_on=performed_on,
                exoquick_lot=exoquick_lot,
                spike_in_lot=spike_in_lot,
                note=cohort.note,
            )
            for code, performed_on, exoquick_lot, spike_in_lot in zip(
                b["code"],
                _dates(b["performed_on"]),
                b["exoquick_lot"],
                b["spike_in_lot"],
                strict=True,
            )
        ],
    )
    stage("isolation batches", len(batches))

    pr = cohort.products
    product_aliquot = _ints(pr["aliquot"])
    product_batch = _ints(pr["batch"])
    checked_in_at = _moments(a["checked_in_at"])
    consumed_at = _moments(pr["consumed_at"])
    events = [
        StorageEvent(
            aliquot=aliquot,
            kind=StorageEvent.Kind.CHECK_IN,
            at=checked_in_at[i],
            to_box=boxes[box_index[i]],
            to_row=rows[i],
            to_column=columns[i],
            volume_change_ul=full,
            reason="aliquoted from draw",
        )
        for i, aliquot in enumerate(aliquots)
    ]
    events += [
        StorageEvent(
            aliquot=aliquots[i],
            kind=StorageEvent.Kind.CONSUME,
            at=consumed_at[k],
            from_box=boxes[box_index[i]],
            from_row=rows[i],
            from_column=columns[i],
            volume_change_ul=-full,
            reason=f"exosome isolation {batches[product_batch[k]].code}",
        )
        for k, i in enumerate(product_aliquot)
    ]
    # The tubes are new: their chains start here, no earlier hash to look up.
    stage("storage events", len(_create(StorageEvent, custody_chain(events, new_tubes=True))))

    isolations = _create(
        ExosomeIsolation,
        [
            ExosomeIsolation(batch=batches[batch], aliquot=aliquots[i], serum_volume_ul=full)
            for batch, i in zip(product_batch, product_aliquot, strict=True)
        ],
    )
    stage("exosome isolations", len(isolations))
    rna_on = _dates(pr["rna_on"])
    rnas = _create(
        RnaIsolation,
        [
            RnaIsolation(isolation=isolation, kit_lot=lot, performed_on=rna_on[k])
            for k, (isolation, lot) in enumerate(zip(isolations, pr["rna_kit_lot"], strict=True))
        ],
    )
    stage("RNA isolations", len(rnas))
    rt_on = _dates(pr["rt_on"])
    products = _create(
        ReverseTranscription,
        [
            ReverseTranscription(code=code, rna=rna, kit_lot=lot, performed_on=rt_on[k])
            for k, (code, rna, lot) in enumerate(
                zip(pr["code"], rnas, pr["rt_kit_lot"], strict=True)
            )
        ],
    )
    stage("reverse transcriptions", len(products))
    through = ReverseTranscription.assays.through
    links = through.objects.bulk_create(
        [
            through(reversetranscription_id=product.pk, assay_id=assay.pk)
            for product in products
            for assay in assays
        ],
        batch_size=BATCH_SIZE,
    )
    stage("RT assays", len(links))

    # qPCR plates and wells.
    pl = cohort.plates
    plates = _create(
        QpcrPlate,
        [
            QpcrPlate(
                barcode=barcode,
                plate_format=QpcrPlate.Format.WELLS_96,
                instrument=INSTRUMENT,
                run_at=run_at,
                status=QpcrPlate.Status.IMPORTED,
            )
            for barcode, run_at in zip(pl["barcode"], _moments(pl["run_at"]), strict=True)
        ],
    )
    stage("qPCR plates", len(plates))
    w = cohort.wells
    plate_ids = [plates[i].pk for i in _ints(w["plate"])]
    product_ids = [products[i].pk if i >= 0 else None for i in _ints(w["product"])]
    assay_ids = [assays[i].pk for i in _ints(w["assay"])]
    wells = _create(
        Well,
        [
            Well(
                plate_id=plate_id,
                row=row,
                column=column,
                kind=kind,
                sample_id=sample_id,
                assay_id=assay_id,
                replicate=replicate,
                cq=cq,
                quantity=quantity,
                quantity_unit="copies" if quantity is not None else "",
            )
            for plate_id, row, column, kind, sample_id, assay_id, replicate, cq, quantity in zip(
                plate_ids,
                _ints(w["row"]),
                _ints(w["column"]),
                w["kind"],
                product_ids,
                assay_ids,
                _ints(w["replicate"]),
                _floats(w["cq"]),
                _floats(w["quantity"]) if "quantity" in w else [None] * len(w),
                strict=True,
            )
        ],
    )
    stage("wells", len(wells))
    stage("assay efficiencies", len(_choose_efficiencies(assays, plates, cohort)))
    return counts


DEMO_EFFICIENCY_SOURCE = "seed_demo (synthetic)"


def _choose_efficiencies(assays, plates, cohort: Cohort) -> list:
    """Each assay's efficiency pooled over the demo's standard-curve runs, chosen through
    the service as a curator would, so the assay pages and a report show efficiencies
    from the first seed. The source names the demo (delete_demo removes exactly these)."""
    from biobank.services.efficiency import assay_efficiency_choose

    runs = [plates[i] for i in np.flatnonzero(cohort.plates["panel"].to_numpy() == "standards")]
    if len(runs) < 2:
        return []
    names = ", ".join(plate.barcode for plate in runs)
    return [
        assay_efficiency_choose(
            assay=assay,
            method="pooled",
            plates=runs,
            user=None,
            source=f"{DEMO_EFFICIENCY_SOURCE}: pooled over the standard curves of {names}",
        )
        for assay in assays
    ]


# --------------------------------------------------------------------------- inspect / delete


def demo_patients():
    return Patient.objects.filter(study_id__startswith=STUDY_ID_PREFIX)


def stored_seed() -> int | None:
    """The seed the existing demo cohort was built with (kept in its batches' note)."""
    note = (
        ExosomeIsolationBatch.objects.filter(code__startswith=BATCH_PREFIX)
        .order_by("code")
        .values_list("note", flat=True)
        .first()
    )
    if not note or "seed " not in note:
        return None
    try:
        return int(note.rsplit("seed ", 1)[1].split()[0].rstrip(",."))
    except ValueError:
        return None


def _demo_querysets() -> list[tuple[str, object]]:
    """What delete_demo removes, children before parents (PROTECT foreign keys)."""
    patient = STUDY_ID_PREFIX
    via_aliquot = Q(aliquot__draw__patient__study_id__startswith=patient)
    via_isolation = Q(isolation__aliquot__draw__patient__study_id__startswith=patient) | Q(
        isolation__batch__code__startswith=BATCH_PREFIX
    )
    via_rna = Q(rna__isolation__aliquot__draw__patient__study_id__startswith=patient) | Q(
        rna__isolation__batch__code__startswith=BATCH_PREFIX
    )
    rt_through = ReverseTranscription.assays.through
    excursion_through = TemperatureExcursion.affected_aliquots.through
    return [
        (
            "assay efficiencies",
            AssayEfficiency.objects.filter(source__startswith=DEMO_EFFICIENCY_SOURCE),
        ),
        (
            "wells",
            Well.objects.filter(
                Q(plate__barcode__startswith=PLATE_PREFIX)
                | Q(sample__rna__isolation__aliquot__draw__patient__study_id__startswith=patient)
                | Q(sample__rna__isolation__batch__code__startswith=BATCH_PREFIX)
            ),
        ),
        ("qPCR plates", QpcrPlate.objects.filter(barcode__startswith=PLATE_PREFIX)),
        (
            "RT assays",
            rt_through.objects.filter(
                Q(
                    reversetranscription__rna__isolation__aliquot__draw__patient__study_id__startswith=patient
                )
                | Q(reversetranscription__rna__isolation__batch__code__startswith=BATCH_PREFIX)
            ),
        ),
        ("reverse transcriptions", ReverseTranscription.objects.filter(via_rna)),
        ("RNA isolations", RnaIsolation.objects.filter(via_isolation)),
        (
            "exosome isolations",
            ExosomeIsolation.objects.filter(via_aliquot | Q(batch__code__startswith=BATCH_PREFIX)),
        ),
        ("isolation batches", ExosomeIsolationBatch.objects.filter(code__startswith=BATCH_PREFIX)),
        ("storage events", StorageEvent.objects.filter(via_aliquot)),
        ("excursion links", excursion_through.objects.filter(via_aliquot)),
        ("aliquots", Aliquot.objects.filter(draw__patient__study_id__startswith=patient)),
        ("serum draws", SerumDraw.objects.filter(patient__study_id__startswith=patient)),
        ("follow-ups", FollowUp.objects.filter(patient__study_id__startswith=patient)),
        ("assessments", ClinicalAssessment.objects.filter(patient__study_id__startswith=patient)),
        ("treatments", Treatment.objects.filter(patient__study_id__startswith=patient)),
        ("identities", PatientIdentity.objects.filter(patient__study_id__startswith=patient)),
        ("patients", demo_patients()),
        # Boxes and racks only once nothing else is in them or points at them.
        (
            "boxes",
            Box.objects.filter(barcode__startswith=BOX_PREFIX)
            .exclude(aliquots__isnull=False)
            .exclude(pk__in=StorageEvent.objects.filter(from_box__isnull=False).values("from_box"))
            .exclude(pk__in=StorageEvent.objects.filter(to_box__isnull=False).values("to_box")),
        ),
        (
            "racks",
            Rack.objects.filter(name__startswith=RACK_PREFIX).exclude(boxes__isnull=False),
        ),
        (
            "freezers",
            Freezer.objects.filter(location=DEMO_LOCATION)
            .exclude(racks__isnull=False)
            .exclude(excursions__isnull=False),
        ),
    ]


def demo_footprint() -> dict[str, int]:
    """How many demo objects of each kind exist (before anything is deleted)."""
    return {name: queryset.count() for name, queryset in _demo_querysets()}


def delete_demo(*, progress: Progress | None = None) -> dict[str, int]:
    """Delete the demo cohort and everything hanging from it; call inside
    transaction.atomic(). Direct DELETE statements (no per-row signals, so no history
    rows are written for the deletion); history rows of demo objects, which exist only
    if someone edited them, go too. Returns rows deleted by kind."""
    deleted: dict[str, int] = {}
    # Each queryset is built now but evaluated in turn, after its children are gone.
    for name, queryset in _demo_querysets():
        model = queryset.model
        using = router.db_for_write(model)
        history = getattr(model, "history", None)
        if history is not None:
            history.model.objects.filter(id__in=queryset.values("pk"))._raw_delete(using)
        # QuerySet.delete() would load every row to send signals (simple_history
        # listens to post_delete); a direct DELETE keeps a 10,000-patient reset fast.
        count = queryset._raw_delete(using)
        deleted[name] = count
        if progress:
            progress(name, count)
    return deleted


# --------------------------------------------------------------------------- users


def ensure_demo_users() -> list[tuple[str, str, bool, bool]]:
    """Users curator / technician / analyst in the groups of those names (the data
    migration creates the groups), password 'exotrack-demo'. An existing user keeps
    their password; returns (username, group, is_staff, demo password works)."""
    user_model = get_user_model()
    result = []
    for username, group_name, is_staff in DEMO_USERS:
        group = Group.objects.get(name=group_name)
        user, created = user_model.objects.get_or_create(
            username=username,
            defaults={"is_staff": is_staff, "email": f"{username}@demo.exotrack.invalid"},
        )
        if created:
            user.set_password(DEMO_PASSWORD)
        user.is_staff = user.is_staff or is_staff
        user.save()
        user.groups.add(group)
        result.append((username, group_name, user.is_staff, user.check_password(DEMO_PASSWORD)))
    return result


class Stopwatch:
    """Elapsed seconds since creation or the last lap."""

    def __init__(self):
        self.start = self.last = time.perf_counter()

    def lap(self) -> float:
        now = time.perf_counter()
        elapsed, self.last = now - self.last, now
        return elapsed

    def total(self) -> float:
        return time.perf_counter() - self.start
