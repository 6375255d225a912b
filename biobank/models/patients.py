"""Patients, their identities, baselines, treatments and follow-up."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from biobank.domain.child_pugh import child_pugh


class PatientQuerySet(models.QuerySet):
    def active(self):
        """Patients who have not withdrawn consent: the only ones analyses and exports see."""
        return self.filter(withdrawn_on__isnull=True)


class Patient(models.Model):
    """A study participant, known only by a pseudonymous study id.

    Identifying data sits in PatientIdentity so that every face but the
    curator's can work with this table without ever touching a name.
    """

    class Sex(models.TextChoices):
        MALE = "M", "Male"
        FEMALE = "F", "Female"

    class LiverBackground(models.TextChoices):
        CIRRHOSIS = "cirrhosis", "Liver cirrhosis"
        CHRONIC_HEPATITIS = "chronic_hepatitis", "Chronic hepatitis"

    class Etiology(models.TextChoices):
        HBV = "HBV", "HBV"
        HCV = "HCV", "HCV"
        HBV_HCV = "HBV+HCV", "HBV+HCV"
        NBNC = "NBNC", "Non-B non-C"

    study_id = models.CharField(max_length=32, unique=True)
    sex = models.CharField(max_length=1, choices=Sex.choices)
    age_at_enrolment = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(18), MaxValueValidator(110)], help_text="years"
    )
    liver_background = models.CharField(max_length=32, choices=LiverBackground.choices)
    etiology = models.CharField(max_length=8, choices=Etiology.choices)
    type2_diabetes = models.BooleanField()
    consent_date = models.DateField()
    withdrawn_on = models.DateField(null=True, blank=True)
    withdrawal_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PatientQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["study_id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(age_at_enrolment__gte=18) & Q(age_at_enrolment__lte=110),
                name="patient_age_plausible",
            ),
            models.CheckConstraint(
                condition=Q(withdrawn_on__isnull=True)
                | Q(withdrawn_on__gte=models.F("consent_date")),
                name="patient_withdrawal_after_consent",
            ),
        ]

    def __str__(self):
        return f"{self.study_id} (withdrawn)" if self.is_withdrawn else self.study_id

    @property
    def is_withdrawn(self) -> bool:
        return self.withdrawn_on is not None


class PatientIdentity(models.Model):
    """Who the patient is. Only the curator group may view this table."""

    patient = models.OneToOneField(Patient, on_delete=models.PROTECT, related_name="identity")
    full_name = models.CharField(max_length=200)
    hospital_number = models.CharField(max_length=64, unique=True)
    date_of_birth = models.DateField()

    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "patient identities"

    def __str__(self):
        return f"Identity of {self.patient.study_id}"


class Treatment(models.Model):
    """A TACE session: the event that splits PRE from POST and starts the survival clock."""

    class Kind(models.TextChoices):
        TACE = "TACE", "Conventional TACE"

    class Anthracycline(models.TextChoices):
        EPIRUBICIN = "epirubicin", "Epirubicin hydrochloride"
        MIRIPLATIN = "miriplatin", "Miriplatin hydrate"
        NONE = "none", "None"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="treatments")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.TACE)
    performed_on = models.DateField()
    anticancer_agent = models.CharField(max_length=16, choices=Anthracycline.choices)
    mitomycin_c = models.BooleanField(default=True)
    lipiodol = models.BooleanField(default=True)
    gelatin_sponge_embolisation = models.BooleanField(
        default=True, help_text="Not done when massive tumour thrombosis appeared"
    )
    is_initial = models.BooleanField(default=True, help_text="The patient's first HCC treatment")

    history = HistoricalRecords()

    class Meta:
        ordering = ["patient__study_id", "performed_on"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient"], condition=Q(is_initial=True), name="one_initial_treatment"
            ),
        ]

    def __str__(self):
        return f"{self.kind} {self.patient.study_id} {self.performed_on}"


# field name -> (min, max, unit): one table drives validators, constraints and the help text.
ASSESSMENT_RANGES = {
    "ast_iu_l": (1, 10000, "IU/l"),
    "alt_iu_l": (1, 10000, "IU/l"),
    "hba1c_percent": (3, 20, "%"),
    "total_bilirubin_mg_dl": (0.1, 50, "mg/dl"),
    "albumin_g_dl": (1.0, 6.5, "g/dl"),
    "pt_percent": (5, 150, "%"),
    "platelets_1e4_ul": (0.5, 150, "x10^4/µl"),
    "afp_ng_ml": (0, 10_000_000, "ng/ml"),
    "dcp_mau_ml": (0, 10_000_000, "mAU/ml"),
    "tumour_diameter_cm": (0.1, 30, "cm"),
    "tumour_number": (1, 50, "nodules"),
}


def _measure(label: str, name: str, field_class=models.FloatField):
    """A nullable measure whose unit and accepted range come from ASSESSMENT_RANGES, so the
    form, the API and full_clean() refuse a PT of 750 % with the same message, and the
    database refuses it too (see the CheckConstraints below)."""
    low, high, unit = ASSESSMENT_RANGES[name]
    return field_class(
        f"{label} ({unit})",
        null=True,
        blank=True,
        validators=[MinValueValidator(low), MaxValueValidator(high)],
        help_text=f"{unit}; accepted range {low}-{high}",
    )


class ClinicalAssessment(models.Model):
    """Baseline (pre-TACE) clinical values with explicit units and validated ranges.

    Every measure may be missing (the study lacks HbA1c for 5 patients, PT and
    DCP for 2): missing is NULL, never zero. The Child-Pugh score is derived; a
    recorded score that disagrees is kept and flagged, not overwritten.
    """

    class Ascites(models.TextChoices):
        NONE = "none", "None"
        SLIGHT = "slight", "Slight"
        MODERATE = "moderate", "Moderate to severe"

    class Encephalopathy(models.TextChoices):
        NONE = "none", "None"
        GRADE_1_2 = "grade_1_2", "Grade 1-2"
        GRADE_3_4 = "grade_3_4", "Grade 3-4"

    class Bclc(models.TextChoices):
        STAGE_0 = "0", "0 (very early)"
        STAGE_A = "A", "A (early)"
        STAGE_B = "B", "B (intermediate)"
        STAGE_C = "C", "C (advanced)"
        STAGE_D = "D", "D (terminal)"

    RANGES = ASSESSMENT_RANGES

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="assessments")
    treatment = models.OneToOneField(
        Treatment,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="baseline",
        help_text="The TACE this is the baseline for",
    )
    assessed_on = models.DateField()
    ast_iu_l = _measure("AST", "ast_iu_l")
    alt_iu_l = _measure("ALT", "alt_iu_l")
    hba1c_percent = _measure("HbA1c", "hba1c_percent")
    total_bilirubin_mg_dl = _measure("T-Bil", "total_bilirubin_mg_dl")
    albumin_g_dl = _measure("ALB", "albumin_g_dl")
    pt_percent = _measure("PT", "pt_percent")
    platelets_1e4_ul = _measure("Plt", "platelets_1e4_ul")
    ascites = models.CharField(max_length=16, choices=Ascites.choices, blank=True)
    encephalopathy = models.CharField(max_length=16, choices=Encephalopathy.choices, blank=True)
    afp_ng_ml = _measure("AFP", "afp_ng_ml")
    dcp_mau_ml = _measure("DCP", "dcp_mau_ml")
    tumour_diameter_cm = _measure("Tumour diameter", "tumour_diameter_cm")
    tumour_number = _measure("Tumour number", "tumour_number", models.PositiveSmallIntegerField)
    bclc_stage = models.CharField("BCLC stage", max_length=1, choices=Bclc.choices, blank=True)
    child_pugh_score_recorded = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(5), MaxValueValidator(15)],
        help_text="As written in the chart; kept even when it disagrees with the derived score",
    )
    child_pugh_score = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    child_pugh_grade = models.CharField(max_length=1, blank=True, editable=False)
    child_pugh_disagrees = models.BooleanField(default=False, editable=False)

    history = HistoricalRecords()

    class Meta:
        ordering = ["patient__study_id", "assessed_on"]
        constraints = [
            models.CheckConstraint(
                condition=Q(**{f"{name}__isnull": True})
                | (Q(**{f"{name}__gte": low}) & Q(**{f"{name}__lte": high})),
                name=f"assessment_{name}_in_range",
            )
            for name, (low, high, _unit) in ASSESSMENT_RANGES.items()
        ]

    def __str__(self):
        return f"Baseline {self.patient.study_id} {self.assessed_on}"

    def save(self, *args, **kwargs):
        self.derive()
        super().save(*args, **kwargs)

    def derive(self) -> None:
        """Fill the derived Child-Pugh fields; called on every save and before bulk inserts."""
        result = child_pugh(
            total_bilirubin_mg_dl=self.total_bilirubin_mg_dl,
            albumin_g_dl=self.albumin_g_dl,
            pt_percent=self.pt_percent,
            ascites=self.ascites or None,
            encephalopathy=self.encephalopathy or None,
        )
        self.child_pugh_score = result.score if result else None
        self.child_pugh_grade = result.grade if result else ""
        self.child_pugh_disagrees = bool(
            result
            and self.child_pugh_score_recorded is not None
            and self.child_pugh_score_recorded != result.score
        )


class FollowUp(models.Model):
    """A contact with the patient: alive, dead (with the cause) or lost.

    Disease-specific survival runs from TACE to an HCC death; other deaths and
    the last contact censor.
    """

    class Status(models.TextChoices):
        ALIVE = "alive", "Alive"
        DEAD = "dead", "Dead"
        LOST = "lost", "Lost to follow-up"

    class Cause(models.TextChoices):
        HCC = "hcc", "HCC-related"
        OTHER = "other", "Other"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="follow_ups")
    contact_date = models.DateField()
    status = models.CharField(max_length=8, choices=Status.choices)
    cause_of_death = models.CharField(max_length=8, choices=Cause.choices, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["patient__study_id", "contact_date"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(status="dead") & ~Q(cause_of_death=""))
                | (~Q(status="dead") & Q(cause_of_death="")),
                name="followup_cause_iff_dead",
            ),
            models.UniqueConstraint(
                fields=["patient", "contact_date"], name="one_followup_per_day"
            ),
        ]

    def __str__(self):
        return f"{self.patient.study_id} {self.contact_date} {self.status}"
