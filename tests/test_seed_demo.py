"""manage.py seed_demo: the SYNTHETIC demo cohort (75 patients only, to stay fast)."""

from __future__ import annotations

import hashlib
from io import StringIO

import pandas as pd
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count, F
from scipy import stats

from biobank.demo.cohort import ALL_ASSAYS, DEFAULT_SEED, LAB_VALUES, generate_cohort
from biobank.demo.loader import DEMO_PASSWORD, demo_footprint
from biobank.management.commands.seed_demo import Command
from biobank.models import (
    Aliquot,
    Box,
    ClinicalAssessment,
    ExosomeIsolation,
    ExosomeIsolationBatch,
    FollowUp,
    Patient,
    PatientIdentity,
    QpcrPlate,
    ReverseTranscription,
    SerumDraw,
    StorageEvent,
    Treatment,
    Well,
)
from biobank.services.draws import days_after, is_outside_window

MIR122, MIR21, SPIKE = "hsa-miR-122-5p", "hsa-miR-21-5p", "cel-miR-39-3p"
MIR23A, MIR451A = "hsa-miR-23a-3p", "hsa-miR-451a"


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    models = (
        Patient,
        PatientIdentity,
        Treatment,
        ClinicalAssessment,
        FollowUp,
        SerumDraw,
        Aliquot,
        StorageEvent,
        Box,
        ExosomeIsolationBatch,
        ExosomeIsolation,
        ReverseTranscription,
        QpcrPlate,
        Well,
    )
    return {model.__name__: model.objects.count() for model in models}


def digest() -> str:
    """A hash of the cohort's values (not of pks or row-creation timestamps)."""
    parts = [
        Patient.objects.order_by("study_id").values_list(
            "study_id",
            "sex",
            "age_at_enrolment",
            "liver_background",
            "etiology",
            "type2_diabetes",
            "consent_date",
        ),
        PatientIdentity.objects.order_by("patient__study_id").values_list(
            "patient__study_id", "full_name", "hospital_number", "date_of_birth"
        ),
        ClinicalAssessment.objects.order_by("patient__study_id").values_list(
            "patient__study_id",
            "assessed_on",
            *LAB_VALUES.keys() - {"age_at_enrolment"},
            "tumour_number",
            "ascites",
            "encephalopathy",
            "bclc_stage",
            "child_pugh_score",
            "child_pugh_grade",
            "child_pugh_score_recorded",
        ),
        FollowUp.objects.order_by("patient__study_id", "contact_date").values_list(
            "patient__study_id", "contact_date", "status", "cause_of_death"
        ),
        SerumDraw.objects.order_by("patient__study_id", "timepoint").values_list(
            "patient__study_id",
            "timepoint",
            "drawn_at",
            "centrifuged_at",
            "frozen_at",
            "serum_volume_ul",
            "haemolysis",
            "a414",
            "days_after_treatment",
            "outside_window",
        ),
        Aliquot.objects.order_by("barcode").values_list(
            "barcode", "volume_ul", "status", "box__barcode", "row", "column"
        ),
        Well.objects.order_by("plate__barcode", "row", "column").values_list(
            "plate__barcode", "row", "column", "kind", "sample__code", "assay__target", "cq"
        ),
    ]
    text = repr([sorted(map(repr, part)) for part in parts])
    return hashlib.sha256(text.encode()).hexdigest()


def wells_frame() -> pd.DataFrame:
    return pd.DataFrame(
        Well.objects.filter(kind="sample").values(
            "sample_id",
            "replicate",
            "cq",
            target=F("assay__target"),
            timepoint=F("sample__rna__isolation__aliquot__draw__timepoint"),
            patient=F("sample__rna__isolation__aliquot__draw__patient__study_id"),
        )
    )


def test_help_says_synthetic():
    assert "SYNTHETIC" in Command.help
    assert "NOT patient data" in Command.help


def test_generation_is_pure_and_deterministic():
    first, second = generate_cohort(75, DEFAULT_SEED), generate_cohort(75, DEFAULT_SEED)
    for name in ("patients", "follow_ups", "draws", "aliquots", "products", "plates", "wells"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(second, name))
    other = generate_cohort(75, DEFAULT_SEED + 1)
    assert not first.wells["cq"].equals(other.wells["cq"])


@pytest.mark.django_db
def test_seed_75_reproduces_table_one():
    output = seed()
    assert "SYNTHETIC" in output and "Done in" in output
    patients = Patient.objects.filter(study_id__startswith="DEMO-")
    assert patients.count() == 75
    assert SerumDraw.objects.count() == 150

    def tally(field):
        return {row[field]: row["n"] for row in _grouped(patients, field)}

    assert tally("liver_background") == {"cirrhosis": 57, "chronic_hepatitis": 18}
    assert tally("sex") == {"M": 49, "F": 26}
    assert tally("etiology") == {"HBV": 9, "HBV+HCV": 3, "HCV": 39, "NBNC": 24}
    assert tally("type2_diabetes") == {True: 30, False: 45}
    bclc = {
        row["bclc_stage"]: row["n"] for row in _grouped(ClinicalAssessment.objects, "bclc_stage")
    }
    assert bclc == {"0": 1, "A": 36, "B": 34, "C": 4}

    assessments = ClinicalAssessment.objects.all()
    assert assessments.count() == 75
    assert assessments.filter(hba1c_percent__isnull=True).count() == 5
    assert assessments.filter(pt_percent__isnull=True).count() == 2
    assert assessments.filter(dcp_mau_ml__isnull=True).count() == 2
    assert not assessments.filter(dcp_mau_ml=0).exists()
    scores = [a.child_pugh_score for a in assessments if a.child_pugh_score is not None]
    assert len(scores) == 73 and min(scores) >= 5 and max(scores) <= 9
    assert not assessments.filter(child_pugh_disagrees=True).exists()
    for assessment in assessments.select_related("treatment"):
        gap = (assessment.treatment.performed_on - assessment.assessed_on).days
        assert 1 <= gap <= 7

    # Identities: unique hospital numbers, birth dates consistent with the age.
    for identity in PatientIdentity.objects.select_related("patient"):
        patient, born = identity.patient, identity.date_of_birth
        consent = patient.consent_date
        age = consent.year - born.year - ((consent.month, consent.day) < (born.month, born.day))
        assert age == patient.age_at_enrolment
        assert identity.hospital_number.startswith("H") and len(identity.hospital_number) == 8


@pytest.mark.django_db
def test_samples_storage_and_wells():
    seed()
    for draw in SerumDraw.objects.select_related("treatment"):
        offset = days_after(draw.treatment, draw.drawn_at)
        assert draw.days_after_treatment == offset
        assert draw.outside_window == is_outside_window(draw.timepoint, offset)
        assert draw.drawn_at < draw.centrifuged_at < draw.frozen_at
        assert draw.timepoint == "POST" or offset == 0
    assert SerumDraw.objects.filter(outside_window=True).count() == 2

    assert Aliquot.objects.count() == 600
    stored = Aliquot.objects.filter(status="stored")
    assert stored.count() == 450
    assert not stored.filter(box__isnull=True).exists()
    assert not stored.filter(row__isnull=True).exists()
    assert all(1 <= a.row <= 9 and 1 <= a.column <= 9 for a in stored)
    used = Aliquot.objects.filter(status="used_up")
    assert used.count() == 150 and set(used.values_list("volume_ul", flat=True)) == {0}
    assert not used.filter(box__isnull=False).exists()
    assert StorageEvent.objects.filter(kind="check_in").count() == 600
    consumes = StorageEvent.objects.filter(kind="consume")
    assert consumes.count() == 150
    assert set(consumes.values_list("volume_change_ul", flat=True)) == {-250}
    assert ExosomeIsolation.objects.count() == 150
    assert ReverseTranscription.objects.count() == 150
    assert all(product.assays.count() == 5 for product in ReverseTranscription.objects.all())

    wells = wells_frame()
    per_sample = wells.groupby(["sample_id", "target"]).replicate.apply(sorted)
    assert len(per_sample) == 150 * 5
    assert all(replicates == [1, 2, 3] for replicates in per_sample)
    assert set(wells.target) == {MIR122, MIR21, SPIKE, MIR23A, MIR451A}
    assert wells.cq.notna().mean() > 0.98
    assert ((wells.cq.dropna() > 0) & (wells.cq.dropna() < 60)).all()
    # 15 miRNA plates of 10 products (3 NTCs), 10 haemolysis-panel plates of 15 (2 NTCs).
    mirna_plates = QpcrPlate.objects.exclude(barcode__startswith="DEMO-QP-H").exclude(
        barcode__startswith="DEMO-QP-S"
    )
    panel_plates = QpcrPlate.objects.filter(barcode__startswith="DEMO-QP-H")
    assert mirna_plates.count() == 15 and panel_plates.count() == 10
    ntcs = Well.objects.filter(kind="ntc", sample__isnull=True)
    assert ntcs.filter(plate__in=mirna_plates).count() == 3 * 15
    assert ntcs.filter(plate__in=panel_plates).count() == 2 * 10
    assert not ntcs.filter(plate__in=panel_plates, cq__isnull=False).exists()
    panel_targets = set(
        Well.objects.filter(plate__in=panel_plates).values_list("assay__target", flat=True)
    )
    assert panel_targets == {MIR23A, MIR451A}
    assert all(plate.wells.count() <= 96 for plate in QpcrPlate.objects.all())

    # Follow-up: from the TACE on, a death (with its cause) only as the last contact.
    follow_ups = pd.DataFrame(
        FollowUp.objects.values("patient_id", "contact_date", "status", "cause_of_death")
    )
    assert follow_ups.patient_id.nunique() == 75
    for _, group in follow_ups.sort_values("contact_date").groupby("patient_id"):
        assert group.contact_date.is_unique
        assert (group.status.iloc[:-1] == "alive").all()
        assert (group.cause_of_death != "").sum() == (group.status == "dead").sum()
    assert set(follow_ups.cause_of_death) <= {"", "hcc", "other"}
    assert (follow_ups.cause_of_death == "hcc").sum() > 10


@pytest.mark.django_db
def test_lab_medians_and_ranges_follow_table_one():
    seed()
    frame = pd.DataFrame(ClinicalAssessment.objects.values())
    ages = pd.Series(Patient.objects.values_list("age_at_enrolment", flat=True))
    for name, (median, low, high, _log, _decimals) in LAB_VALUES.items():
        values = ages if name == "age_at_enrolment" else frame[name].dropna()
        assert abs(values.median() - median) <= 0.1 * median, name
        assert values.min() >= low and values.max() <= high, name
        assert values.min() == low and values.max() == high, name
    assert frame.tumour_number.median() == 2
    assert frame.tumour_number.min() == 1 and frame.tumour_number.max() == 10
    assert frame.child_pugh_score_recorded.median() == 6


@pytest.mark.django_db
def test_mir122_falls_after_tace_and_mir21_does_not():
    seed()
    wells = wells_frame().dropna(subset=["cq"])
    means = wells.groupby(["patient", "timepoint", "target"]).cq.mean().unstack("target")
    delta = pd.DataFrame(
        {"mir122": means[MIR122] - means[SPIKE], "mir21": means[MIR21] - means[SPIKE]}
    ).unstack("timepoint")
    assert delta["mir122"]["POST"].mean() > delta["mir122"]["PRE"].mean()
    assert 11 < delta["mir122"]["PRE"].median() < 13  # relative expression ~2.4e-4
    paired = stats.ttest_rel(delta["mir122"]["POST"], delta["mir122"]["PRE"])
    assert paired.pvalue < 0.01
    assert abs((delta["mir21"]["POST"] - delta["mir21"]["PRE"]).mean()) < 0.3


@pytest.mark.django_db
def test_rerun_does_not_duplicate_and_same_seed_gives_same_values():
    seed()
    before, first = counts(), digest()
    assert "already exists" in seed()
    assert counts() == before

    output = seed("--reset")
    assert "Deleting the demo cohort" in output
    assert counts() == before
    assert digest() == first

    seed("--reset", "--seed", str(DEFAULT_SEED + 1))
    assert counts()["Patient"] == 75
    assert digest() != first


@pytest.mark.django_db
def test_other_size_needs_reset():
    seed()
    with pytest.raises(CommandError, match="--reset"):
        seed("--patients", "10")
    assert Patient.objects.count() == 75
    seed("--patients", "10", "--reset")
    assert Patient.objects.count() == 10
    assert SerumDraw.objects.count() == 20
    assert not Box.objects.filter(aliquots__draw__patient__study_id="DEMO-0075").exists()


@pytest.mark.django_db
def test_reset_keeps_other_data():
    seed("--patients", "3")
    other = Patient.objects.create(
        study_id="HCC-001",
        sex="M",
        age_at_enrolment=70,
        liver_background="cirrhosis",
        etiology="HCV",
        type2_diabetes=False,
        consent_date="2015-01-01",
    )
    seed("--patients", "3", "--reset")
    assert Patient.objects.filter(pk=other.pk).exists()
    assert Patient.objects.count() == 4


@pytest.mark.django_db
def test_users_option_creates_role_logins(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    output = seed("--patients", "2", "--users")
    assert DEMO_PASSWORD in output
    users = get_user_model().objects
    for username, staff in (("curator", True), ("technician", True), ("analyst", False)):
        user = users.get(username=username)
        assert user.groups.filter(name=username).exists()
        assert user.is_staff is staff
        assert user.check_password(DEMO_PASSWORD)
    seed("--patients", "2", "--users")
    assert users.filter(username__in=["curator", "technician", "analyst"]).count() == 3


def _grouped(queryset, field):
    return queryset.order_by().values(field).annotate(n=Count("pk"))


@pytest.mark.django_db
def test_if_empty_seeds_an_empty_database_and_keeps_a_used_one(settings):
    """`make demo` a second time: what the user did in the demo stays, and it succeeds."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    seed("--patients", "3", "--if-empty", "--users")
    assert Patient.objects.count() == 3
    # The user's work: a follow-up deleted, a patient added (with the demo's prefix, so
    # that the plain command would refuse the count), a login's password changed.
    FollowUp.objects.filter(patient__study_id="DEMO-0001").order_by(
        "-contact_date"
    ).first().delete()
    Patient.objects.create(
        study_id="DEMO-0099",
        sex="F",
        age_at_enrolment=61,
        liver_background="cirrhosis",
        etiology="HBV",
        type2_diabetes=False,
        consent_date="2016-02-01",
    )
    curator = get_user_model().objects.get(username="curator")
    curator.set_password("my-own-password")
    curator.save()
    get_user_model().objects.filter(username="analyst").delete()
    before, kept = counts(), digest()
    with pytest.raises(CommandError, match="--reset"):
        seed("--patients", "3", "--users")  # what `make demo` used to run: it stopped here

    output = seed("--patients", "3", "--if-empty", "--users")  # exits 0
    assert "holds 4 patients already: not seeding" in output
    assert counts() == before and digest() == kept
    users = get_user_model().objects
    assert users.get(username="curator").check_password("my-own-password")
    assert users.get(username="analyst").check_password(DEMO_PASSWORD)  # logins ensured

    with pytest.raises(CommandError, match="contradict"):
        seed("--if-empty", "--reset")


# --------------------------------------------------------------------------- QC cases


@pytest.fixture(scope="module")
def cohort():
    return generate_cohort(75, DEFAULT_SEED)


def sample_means(cohort) -> pd.DataFrame:
    """Mean Cq per RT product and target, from the generated wells (targets by name)."""
    wells = cohort.wells[cohort.wells["kind"] == "sample"].copy()
    wells["target"] = [ALL_ASSAYS[i][0] for i in wells["assay"]]
    return wells.groupby(["product", "target"])["cq"].mean().unstack("target")


def test_the_haemolysis_index_agrees_with_the_grade_and_the_a414(cohort):
    means = sample_means(cohort)
    # Blondal et al. 2013: ΔCq(miR-23a-3p - miR-451a) > 7 high risk, 5-7 borderline.
    by_draw = pd.Series(
        (means[MIR23A] - means[MIR451A]).to_numpy(),
        index=cohort.products.loc[means.index, "draw"].to_numpy(),
    )
    draws = cohort.draws.assign(index=by_draw)
    high, borderline = draws[draws["index"] > 7], draws[draws["index"].between(5, 7)]
    assert len(high) == 3 and len(borderline) == 3
    assert set(high["haemolysis"]) == {"moderate"} and (high["a414"] > 0.2).all()
    assert set(borderline["haemolysis"]) == {"slight"}
    clean = draws[draws["index"] < 5]
    assert len(clean) == 144 and set(clean["haemolysis"]) == {"none"}
    assert abs(clean["index"].median() - 3) < 0.4  # ~N(3, 1)
    assert (draws["haemolysis"] == "gross").sum() == 0
    measured = clean["a414"].dropna()
    assert 0.2 < len(measured) / len(clean) < 0.5  # about a third
    assert measured.between(0.05, 0.15).all()
    assert (draws["a414"].dropna() >= 0).all()


def test_exactly_one_spike_in_failure_about_5_cycles_above_its_batch(cohort):
    spike = cohort.wells[(cohort.wells["kind"] == "sample") & (cohort.wells["assay"] == 2)]
    assert {ALL_ASSAYS[2][0]} == {SPIKE}
    per_product = spike.groupby("product")["cq"].agg(["mean", "min"])
    per_product["batch"] = cohort.products["batch"].to_numpy()[per_product.index]
    outliers = []
    for _batch, group in per_product.groupby("batch"):
        median = group["mean"].median()
        mad = 1.4826 * (group["mean"] - median).abs().median()
        z = (group["mean"] - median) / mad
        outliers += [
            (product, group.at[product, "min"] - median) for product in z[z.abs() > 3.5].index
        ]
    assert len(outliers) == 1
    product, lowest_above_median = outliers[0]
    assert 4 < lowest_above_median < 6  # every replicate about 5 cycles above its batch
    assert cohort.products["spike_in_failed"].sum() == 1
    assert bool(cohort.products.at[product, "spike_in_failed"])


def test_exactly_one_plate_has_amplified_ntcs_at_12_8_to_13_3(cohort):
    ntc = cohort.wells[cohort.wells["kind"] == "ntc"]
    early = ntc[ntc["cq"] < 30]
    assert early["plate"].nunique() == 1
    plate = int(early["plate"].iat[0])
    on_plate = ntc[ntc["plate"] == plate]
    assert len(on_plate) == 3 and on_plate["cq"].between(12.8, 13.3).all()  # every assay's
    assert sorted(on_plate["assay"]) == [0, 1, 2]
    assert cohort.plates.at[plate, "panel"] == "mirna"
    # The other NTCs: nothing, or now and then a late primer-dimer (Cq >= 35.5).
    others = ntc[ntc["plate"] != plate]["cq"].dropna()
    assert (others >= 35.5).all()


def test_the_qc_cases_leave_the_other_values_alone(cohort):
    """The cases are separate: the failed spike-in is not on the contaminated plate nor
    a haemolysed draw, and the panel plates carry only miR-23a-3p and miR-451a."""
    failed = cohort.products[cohort.products["spike_in_failed"]].iloc[0]
    assert not cohort.plates.at[int(failed["plate"]), "ntc_contaminated"]
    assert cohort.draws.at[int(failed["draw"]), "haemolysis"] == "none"
    panel = cohort.plates.index[cohort.plates["panel"] == "haemolysis"]
    on_panel = cohort.wells[cohort.wells["plate"].isin(panel)]
    assert {ALL_ASSAYS[i][0] for i in on_panel["assay"]} == {MIR23A, MIR451A}
    assert set(cohort.plates.loc[panel, "barcode"].str[:9]) == {"DEMO-QP-H"}


@pytest.mark.django_db
def test_the_qc_cases_are_loaded_and_reset_removes_them():
    seed()
    assert SerumDraw.objects.filter(haemolysis="moderate", a414__gt=0.2).count() == 3
    assert SerumDraw.objects.filter(haemolysis="slight").count() == 3
    assert SerumDraw.objects.filter(a414__isnull=False).count() == len(
        generate_cohort(75, DEFAULT_SEED).draws["a414"].dropna()
    )
    ntc = Well.objects.filter(kind="ntc", cq__gte=12.8, cq__lte=13.3)
    assert ntc.count() == 3 and ntc.values("plate").distinct().count() == 1
    footprint = demo_footprint()
    # Samples, NTCs of the miRNA and panel plates, the standard curves (2 runs x 5 assays x
    # 5 levels x 3).
    assert (
        footprint["wells"]
        == Well.objects.count()
        == (150 * 5 * 3 + 15 * 3 + 10 * 2 + 2 * 5 * 5 * 3)
    )
    assert footprint["qPCR plates"] == QpcrPlate.objects.count() == 25 + 2
    assert footprint["RT assays"] == 150 * 5
    assert footprint["assay efficiencies"] == 5
    seed("--reset")
    assert demo_footprint() == footprint  # the same objects again, nothing left over


@pytest.mark.django_db
def test_a_standard_curve_per_assay_and_run_and_the_efficiencies_chosen():
    """Issue 14: two standard-curve runs with every assay's dilution series, kept out of
    the samples; each assay's efficiency pooled over the two runs, as the assay page and
    a report show it; the curves recover the synthetic true efficiencies."""
    from biobank.demo.cohort import STANDARD_COPIES, STANDARD_EFFICIENCY
    from biobank.models import AssayEfficiency
    from biobank.selectors.standard_curves import standard_curves

    seed()
    runs = QpcrPlate.objects.filter(barcode__startswith="DEMO-QP-S").order_by("barcode")
    assert [p.barcode for p in runs] == ["DEMO-QP-S0001", "DEMO-QP-S0002"]
    standards = Well.objects.filter(kind="standard")
    assert standards.count() == 2 * 5 * len(STANDARD_COPIES) * 3
    assert not standards.filter(sample__isnull=False).exists()
    assert set(standards.values_list("quantity", flat=True)) == set(STANDARD_COPIES)
    curves = standard_curves(plate_ids=[p.pk for p in runs])
    assert len(curves) == 10 and all(c.ok for c in curves)
    for item in curves:
        true = STANDARD_EFFICIENCY[item.target]
        assert abs(item.curve.efficiency - true) < 4 * item.curve.efficiency_se + 0.01
        assert item.curve.r_squared > 0.99
    chosen = {c.assay.target: c for c in AssayEfficiency.objects.select_related("assay")}
    assert set(chosen) == {MIR122, MIR21, SPIKE, MIR23A, MIR451A}
    assert {c.method for c in chosen.values()} == {"pooled"}
    assert all(len(c.evidence["curves"]) == 2 for c in chosen.values())
    # Standards never enter the wells the analysis reads.
    from biobank.selectors.wells import wells_frame as analysis_wells

    assert "standard" not in set(analysis_wells().kind)


@pytest.mark.django_db
def test_reset_removes_the_demo_efficiencies():
    from biobank.demo.loader import delete_demo
    from biobank.models import AssayEfficiency

    seed()
    assert AssayEfficiency.objects.count() == 5
    delete_demo()
    assert not AssayEfficiency.objects.exists()
    assert not Well.objects.filter(kind="standard").exists()
