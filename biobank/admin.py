"""The curators' admin: every model, with search, filters and change history.

It is a face like the web pages and the API (biobank/admin_base.py): only curators
write here, and the sample chain is written through the same services (draws,
storage, plates, wells, custody of aliquots), a refused rule showing next to its
field. The clinical records (patients, identities, treatments, assessments,
follow-up) and new assays are written through their services too. What no service
writes is read-only: instrument data (Cq), what an import or the QC decided, the
processing records the bench services keep, an assay once added.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count
from simple_history.admin import SimpleHistoryAdmin

from biobank import models as m
from biobank.admin_base import (
    CuratorWritesMixin,
    ReadOnlyAdmin,
    ServiceAdmin,
    ServiceForm,
    service_delete,
)
from biobank.services import assays as assay_services
from biobank.services import bulk as bulk_services
from biobank.services import patients as patient_services
from biobank.services import plates as plate_services
from biobank.services import storage as storage_services
from biobank.services.draws import serum_draw_register, serum_draw_update

admin.site.site_header = "ExoTrack curation"
admin.site.site_title = "ExoTrack"
admin.site.index_title = "Sample chain and analyses"


class PatientIdentityInline(admin.StackedInline):
    """Read here; written on the identity's own page through its services."""

    model = m.PatientIdentity
    can_delete = False
    extra = 0

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class PatientAddForm(ServiceForm):
    class Meta:
        model = m.Patient
        fields = patient_services.PATIENT_FIELDS

    def run_service(self):
        return patient_services.patient_create(**self.cleaned_data)


class PatientChangeForm(ServiceForm):
    """patient_update for the enrolment data; filling in the withdrawal date and reason
    calls patient_withdraw (once: a withdrawn patient's withdrawal is read-only)."""

    class Meta:
        model = m.Patient
        fields = (*patient_services.PATIENT_FIELDS, "withdrawn_on", "withdrawal_reason")

    def run_service(self):
        patient = patient_services.patient_update(
            patient=self.stored(), **self.changed(*patient_services.PATIENT_FIELDS)
        )
        if self.changed("withdrawn_on", "withdrawal_reason"):
            patient = patient_services.patient_withdraw(
                patient=patient,
                withdrawn_on=self.cleaned_data["withdrawn_on"],
                reason=self.cleaned_data["withdrawal_reason"],
            )
        return patient


@admin.register(m.Patient)
class PatientAdmin(ServiceAdmin):
    """Enrolment through patient_create, corrections through patient_update, withdrawal
    through patient_withdraw; a patient with any data is not deleted (patient_delete)."""

    delete_service = service_delete(patient_services.patient_delete, "patient")
    list_display = (
        "study_id",
        "sex",
        "age_at_enrolment",
        "liver_background",
        "etiology",
        "type2_diabetes",
        "consent_date",
        "withdrawn_on",
    )
    list_filter = (
        "liver_background",
        "etiology",
        "sex",
        "type2_diabetes",
        ("withdrawn_on", admin.EmptyFieldListFilter),
    )
    search_fields = ("study_id",)
    date_hierarchy = "consent_date"

    def get_form(self, request, obj=None, **kwargs):
        kwargs["form"] = PatientChangeForm if obj else PatientAddForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.is_withdrawn:
            return ("withdrawn_on", "withdrawal_reason")
        return ()

    def get_inlines(self, request, obj):
        """Identities only for those allowed to see them (the curator group)."""
        if obj is not None and request.user.has_perm("biobank.view_patientidentity"):
            return [PatientIdentityInline]
        return []


class PatientIdentityForm(ServiceForm):
    """patient_identity_record / patient_identity_update: the birth date comes before
    consent, and an identity never moves to another patient (read-only on change)."""

    class Meta:
        model = m.PatientIdentity
        fields = ("patient", "full_name", "hospital_number", "date_of_birth")

    def run_service(self):
        if self.instance.pk is None:
            return patient_services.patient_identity_record(**self.cleaned_data)
        return patient_services.patient_identity_update(
            identity=self.stored(),
            **self.changed("full_name", "hospital_number", "date_of_birth"),
        )


@admin.register(m.PatientIdentity)
class PatientIdentityAdmin(ServiceAdmin):
    """Identities are written through two tiny services (record, update) and never
    deleted here: a study ID without its identity could not be re-identified when the
    clinic must be told of a result."""

    form = PatientIdentityForm
    list_display = ("patient", "full_name", "hospital_number", "date_of_birth")
    search_fields = ("patient__study_id", "full_name", "hospital_number")
    list_select_related = ("patient",)
    autocomplete_fields = ("patient",)

    def get_readonly_fields(self, request, obj=None):
        return ("patient",) if obj else ()


TREATMENT_FIELDS = (
    "kind",
    "performed_on",
    "anticancer_agent",
    "mitomycin_c",
    "lipiodol",
    "gelatin_sponge_embolisation",
    "is_initial",
)


class TreatmentForm(ServiceForm):
    """treatment_create / treatment_update: one initial treatment, none before consent,
    and the date fixed once draws are timed from it."""

    class Meta:
        model = m.Treatment
        fields = ("patient", *TREATMENT_FIELDS)

    def _get_validation_exclusions(self):
        """Leave one_initial_treatment (on `patient`) to the service, which refuses a
        second initial treatment naming `is_initial`; the form's own check would only
        name the constraint, on no field. The service's save still checks it."""
        return {*super()._get_validation_exclusions(), "patient"}

    def run_service(self):
        if self.instance.pk is None:
            return patient_services.treatment_create(**self.cleaned_data)
        return patient_services.treatment_update(
            treatment=self.stored(), **self.changed(*TREATMENT_FIELDS)
        )


@admin.register(m.Treatment)
class TreatmentAdmin(ServiceAdmin):
    form = TreatmentForm
    delete_service = service_delete(patient_services.treatment_delete, "treatment")
    list_display = (
        "patient",
        "kind",
        "performed_on",
        "anticancer_agent",
        "gelatin_sponge_embolisation",
        "is_initial",
    )
    list_filter = ("kind", "anticancer_agent", "gelatin_sponge_embolisation", "is_initial")
    search_fields = ("patient__study_id",)
    list_select_related = ("patient",)
    autocomplete_fields = ("patient",)
    date_hierarchy = "performed_on"

    def get_readonly_fields(self, request, obj=None):
        return ("patient",) if obj else ()


ASSESSMENT_FIELDS = tuple(
    field.name
    for field in m.ClinicalAssessment._meta.concrete_fields
    if field.editable and field.name not in {"id", "patient"}
)


class ClinicalAssessmentForm(ServiceForm):
    """clinical_assessment_record / clinical_assessment_update: ranges, the baseline on
    or before its TACE and the TACE the patient's own; Child-Pugh is derived."""

    class Meta:
        model = m.ClinicalAssessment
        fields = ("patient", *ASSESSMENT_FIELDS)

    def run_service(self):
        if self.instance.pk is None:
            return patient_services.clinical_assessment_record(**self.cleaned_data)
        return patient_services.clinical_assessment_update(
            assessment=self.stored(), **self.changed(*ASSESSMENT_FIELDS)
        )


@admin.register(m.ClinicalAssessment)
class ClinicalAssessmentAdmin(ServiceAdmin):
    form = ClinicalAssessmentForm
    delete_service = service_delete(patient_services.clinical_assessment_delete, "assessment")
    list_display = (
        "patient",
        "assessed_on",
        "ast_iu_l",
        "alt_iu_l",
        "total_bilirubin_mg_dl",
        "albumin_g_dl",
        "pt_percent",
        "child_pugh_score",
        "child_pugh_grade",
        "child_pugh_disagrees",
        "bclc_stage",
    )
    list_filter = (
        "child_pugh_grade",
        "child_pugh_disagrees",
        "bclc_stage",
        "ascites",
        "encephalopathy",
    )
    search_fields = ("patient__study_id",)
    list_select_related = ("patient",)
    autocomplete_fields = ("patient", "treatment")

    def get_readonly_fields(self, request, obj=None):
        derived = ("child_pugh_score", "child_pugh_grade", "child_pugh_disagrees")
        return ("patient", *derived) if obj else derived


DRAW_REGISTER_FIELDS = (
    "treatment",
    "timepoint",
    "drawn_at",
    "centrifuged_at",
    "frozen_at",
    "held_cold",
    "container",
    "serum_volume_ul",
    "haemolysis",
    "a414",
    "note",
)


class SerumDrawForm(ServiceForm):
    """serum_draw_register for a new draw (then serum_draw_update for the processing
    details it does not take), serum_draw_update with the changed fields for a
    correction: timing, A414 and the volume-versus-aliquots rule hold here too."""

    class Meta:
        model = m.SerumDraw
        fields = (
            "treatment",
            "timepoint",
            "drawn_at",
            "centrifuged_at",
            "frozen_at",
            "held_cold",
            "container",
            "centrifugation_g",
            "centrifugation_minutes",
            "centrifugation_temperature_c",
            "storage_temperature_c",
            "serum_volume_ul",
            "haemolysis",
            "a414",
            "note",
        )

    def run_service(self):
        data = self.cleaned_data
        if self.instance.pk is None:
            draw = serum_draw_register(**{name: data[name] for name in DRAW_REGISTER_FIELDS})
            details = {
                name: data[name] for name in self.Meta.fields if name not in DRAW_REGISTER_FIELDS
            }
            return serum_draw_update(draw=draw, **details)
        return serum_draw_update(draw=self.stored(), **self.changed(*self.Meta.fields))


@admin.register(m.SerumDraw)
class SerumDrawAdmin(ServiceAdmin):
    form = SerumDrawForm
    list_display = (
        "__str__",
        "timepoint",
        "drawn_at",
        "days_after_treatment",
        "outside_window",
        "haemolysis",
        "a414",
        "serum_volume_ul",
        "sprec_code",
    )
    list_filter = ("timepoint", "outside_window", "haemolysis", "container")
    search_fields = ("patient__study_id",)
    list_select_related = ("patient",)
    readonly_fields = ("patient", "days_after_treatment", "outside_window", "sprec_code")
    autocomplete_fields = ("treatment",)
    date_hierarchy = "drawn_at"


class StorageEventInline(admin.TabularInline):
    model = m.StorageEvent
    extra = 0
    can_delete = False
    fields = ("at", "kind", "user", "from_label", "to_label", "volume_change_ul", "reason")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user", "from_box", "to_box")


@admin.register(m.Aliquot)
class AliquotAdmin(CuratorWritesMixin, SimpleHistoryAdmin):
    """Aliquots are cut, moved and used through the services (web pages, API); here a
    curator can search, read the custody log, and check out or discard with a reason."""

    list_display = (
        "barcode",
        "draw",
        "status",
        "location",
        "volume_ul",
        "freeze_thaw_count",
        "sprec_code",
    )
    list_filter = ("status", "draw__timepoint", "box__rack__freezer", "freeze_thaw_count")
    search_fields = ("barcode", "draw__patient__study_id")
    list_select_related = ("draw__patient", "draw__treatment", "box__rack__freezer")
    readonly_fields = (
        "barcode",
        "draw",
        "initial_volume_ul",
        "volume_ul",
        "freeze_thaw_count",
        "status",
        "box",
        "row",
        "column",
        "sprec_code",
    )
    inlines = [StorageEventInline]
    actions = ["check_out", "discard"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        """Every field is read-only: the custody services are the only writers."""

    def _apply(self, request, queryset, service, verb):
        """One list through the bulk service (one transaction, a message per refused tube)."""
        result = service(
            codes=list(queryset.order_by("pk").values_list("barcode", flat=True)),
            user=request.user,
            reason=f"{verb} in the admin by {request.user}",
        )
        for outcome in result.refused:
            self.message_user(request, outcome.message, messages.ERROR)
        if result.done:
            self.message_user(request, f"{len(result.done)} aliquot(s) {verb}.", messages.SUCCESS)

    @admin.action(description="Check out the selected aliquots", permissions=["change"])
    def check_out(self, request, queryset):
        self._apply(request, queryset, bulk_services.aliquots_check_out, "checked out")

    @admin.action(description="Discard the selected aliquots", permissions=["change"])
    def discard(self, request, queryset):
        self._apply(request, queryset, bulk_services.aliquots_discard, "discarded")


@admin.register(m.StorageEvent)
class StorageEventAdmin(CuratorWritesMixin, admin.ModelAdmin):
    """The custody log is written by the services only: read-only here."""

    list_display = (
        "at",
        "kind",
        "aliquot",
        "user",
        "from_label",
        "to_label",
        "volume_change_ul",
        "reason",
    )
    list_filter = ("kind", ("at", admin.DateFieldListFilter))
    search_fields = ("aliquot__barcode", "reason")
    list_select_related = ("aliquot", "user", "from_box", "to_box")
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class FreezerForm(ServiceForm):
    class Meta:
        model = m.Freezer
        fields = ("name", "location", "set_point_c", "is_active")

    def run_service(self):
        if self.instance.pk is None:
            return storage_services.freezer_create(**self.cleaned_data)
        return storage_services.freezer_update(
            freezer=self.stored(), **self.changed(*self.Meta.fields)
        )


@admin.register(m.Freezer)
class FreezerAdmin(ServiceAdmin):
    form = FreezerForm
    delete_service = service_delete(storage_services.freezer_delete, "freezer")
    list_display = ("name", "location", "set_point_c", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name", "location")


class RackForm(ServiceForm):
    class Meta:
        model = m.Rack
        fields = ("freezer", "name")

    def run_service(self):
        if self.instance.pk is None:
            return storage_services.rack_create(**self.cleaned_data)
        return storage_services.rack_update(rack=self.stored(), **self.changed(*self.Meta.fields))


@admin.register(m.Rack)
class RackAdmin(ServiceAdmin):
    form = RackForm
    delete_service = service_delete(storage_services.rack_delete, "rack")
    list_display = ("name", "freezer")
    list_filter = ("freezer",)
    search_fields = ("name", "freezer__name")
    list_select_related = ("freezer",)


class BoxForm(ServiceForm):
    """box_create, or box_update: a box cannot shrink under the tubes it holds."""

    class Meta:
        model = m.Box
        fields = ("rack", "name", "barcode", "rows", "columns")

    def run_service(self):
        if self.instance.pk is None:
            return storage_services.box_create(**self.cleaned_data)
        return storage_services.box_update(box=self.stored(), **self.changed(*self.Meta.fields))


@admin.register(m.Box)
class BoxAdmin(ServiceAdmin):
    form = BoxForm
    delete_service = service_delete(storage_services.box_delete, "box")
    list_display = ("barcode", "name", "rack", "rows", "columns", "occupied")
    list_filter = ("rack__freezer",)
    search_fields = ("barcode", "name")
    list_select_related = ("rack__freezer",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(occupied_count=Count("aliquots"))

    @admin.display(description="Occupied", ordering="occupied_count")
    def occupied(self, box):
        return f"{box.occupied_count} / {box.capacity}"


class TemperatureExcursionForm(ServiceForm):
    """A new excursion marks every aliquot inside the freezer (the service); later only
    its end and note change."""

    class Meta:
        model = m.TemperatureExcursion
        fields = ("freezer", "started_at", "ended_at", "peak_temperature_c", "note")

    def run_service(self):
        data = self.cleaned_data
        if self.instance.pk is None:
            return storage_services.temperature_excursion_record(**data, user=self.user)
        return storage_services.temperature_excursion_update(
            excursion=self.stored(),
            ended_at=data.get("ended_at"),
            note=data.get("note", ""),
            user=self.user,
        )


@admin.register(m.TemperatureExcursion)
class TemperatureExcursionAdmin(ServiceAdmin):
    form = TemperatureExcursionForm
    list_display = ("freezer", "started_at", "ended_at", "peak_temperature_c", "recorded_by")
    list_filter = ("freezer",)
    date_hierarchy = "started_at"

    def get_readonly_fields(self, request, obj=None):
        fixed = ("freezer", "started_at", "peak_temperature_c") if obj else ()
        return (*fixed, "recorded_by", "tubes_exposed")

    @admin.display(description="Tubes inside during it")
    def tubes_exposed(self, excursion):
        """Each marked tube with its minutes inside (the service reads them from the
        custody log; they are not edited here)."""
        if excursion.pk is None:
            return "Worked out from the custody log when saved"
        exposures = excursion.exposures.select_related("aliquot").order_by("aliquot__barcode")
        return ", ".join(f"{e.aliquot.barcode} ({e.minutes} min)" for e in exposures) or "none"


@admin.register(m.ExcursionExposure)
class ExcursionExposureAdmin(CuratorWritesMixin, admin.ModelAdmin):
    """Which tubes were in a freezer during an excursion and for how long: computed from
    the custody log by biobank.services.storage, read-only here."""

    list_display = ("aliquot", "excursion", "minutes", "peak_temperature_c")
    list_filter = ("excursion__freezer",)
    search_fields = ("aliquot__barcode",)
    list_select_related = ("aliquot", "excursion__freezer")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ExosomeIsolationInline(admin.TabularInline):
    model = m.ExosomeIsolation
    extra = 0
    can_delete = False
    readonly_fields = ("aliquot", "serum_volume_ul")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(m.ExosomeIsolationBatch)
class ExosomeIsolationBatchAdmin(ReadOnlyAdmin):
    """Batches, RNA isolations and RT products are recorded on the bench pages and the
    API, which take the serum from each aliquot in the same transaction; an admin form
    could not, so the processing records are read here."""

    list_display = (
        "code",
        "performed_on",
        "exoquick_lot",
        "spike_in_lot",
        "serum_volume_ul",
        "sample_count",
    )
    search_fields = ("code", "exoquick_lot", "spike_in_lot")
    date_hierarchy = "performed_on"
    inlines = [ExosomeIsolationInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(samples=Count("isolations"))

    @admin.display(description="Samples", ordering="samples")
    def sample_count(self, batch):
        return batch.samples


@admin.register(m.ExosomeIsolation)
class ExosomeIsolationAdmin(ReadOnlyAdmin):
    list_display = ("batch", "aliquot", "serum_volume_ul")
    search_fields = ("batch__code", "aliquot__barcode")
    list_select_related = ("batch", "aliquot")
    readonly_fields = ("batch", "aliquot", "serum_volume_ul")


@admin.register(m.RnaIsolation)
class RnaIsolationAdmin(ReadOnlyAdmin):
    list_display = ("isolation", "kit", "kit_lot", "performed_on", "sprec_code")
    search_fields = ("isolation__aliquot__barcode", "kit_lot")
    list_select_related = ("isolation__batch", "isolation__aliquot")
    date_hierarchy = "performed_on"
    raw_id_fields = ("isolation",)


@admin.register(m.ReverseTranscription)
class ReverseTranscriptionAdmin(ReadOnlyAdmin):
    list_display = ("code", "kit_lot", "performed_on")
    search_fields = ("code", "kit_lot")
    date_hierarchy = "performed_on"
    raw_id_fields = ("rna",)
    filter_horizontal = ("assays",)


class AssayForm(ServiceForm):
    class Meta:
        model = m.Assay
        fields = ("target", "role", "vendor", "vendor_assay_id")

    def run_service(self):
        return assay_services.assay_create(**self.cleaned_data)


@admin.register(m.Assay)
class AssayAdmin(ServiceAdmin):
    """Added here through assay_create, then read-only and never deleted: wells, RT
    products and analyses name an assay by its target, so a rename would silently
    rewrite every result measured with it."""

    form = AssayForm
    list_display = ("target", "role", "vendor", "vendor_assay_id")
    list_filter = ("role",)
    search_fields = ("target", "vendor_assay_id")

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(m.AssayEfficiency)
class AssayEfficiencyAdmin(ReadOnlyAdmin):
    """Read here with its history; chosen on the assay's efficiency page
    (web:assay_efficiency), which fits the runs' curves and calls
    biobank.services.efficiency.assay_efficiency_choose."""

    list_display = ("assay", "method", "value", "se", "source", "chosen_by", "chosen_at")
    list_filter = ("method",)
    search_fields = ("assay__target", "source")
    list_select_related = ("assay", "chosen_by")


class QpcrPlateForm(ServiceForm):
    class Meta:
        model = m.QpcrPlate
        fields = ("barcode", "plate_format", "instrument", "run_at", "operator")

    def run_service(self):
        return plate_services.plate_create(**self.cleaned_data)


@admin.register(m.QpcrPlate)
class QpcrPlateAdmin(ServiceAdmin):
    """Plates are created here or on the bench; their layout is edited on the plate
    map (its services refuse once results are live) and their results come only by
    import, so an existing plate is read here."""

    form = QpcrPlateForm
    delete_service = service_delete(plate_services.plate_delete, "plate")
    list_display = (
        "barcode",
        "plate_format",
        "instrument",
        "run_at",
        "operator",
        "status",
        "well_count",
    )
    list_filter = ("status", "plate_format", "instrument")
    search_fields = ("barcode",)
    date_hierarchy = "run_at"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(wells_count=Count("wells"))

    @admin.display(description="Wells", ordering="wells_count")
    def well_count(self, plate):
        return plate.wells_count

    def has_change_permission(self, request, obj=None):
        return False


class WellAddForm(ServiceForm):
    """A well placed by hand (plates.plate_place): refused on a plate with results."""

    service_error_fields = {"positions": "row", "assays": "assay"}

    class Meta:
        model = m.Well
        fields = ("plate", "row", "column", "kind", "sample", "assay")

    def run_service(self):
        data = self.cleaned_data
        (well,) = plate_services.plate_place(
            plate=data["plate"],
            positions=[m.position_label(data["row"], data["column"])],
            assays=[data["assay"]],
            kind=data["kind"],
            sample=data.get("sample"),
        )
        return well


class WellDecisionForm(ServiceForm):
    """A curator's decision on a well, with who and when (plates.well_exclude,
    well_restore, well_clear_decision); the Cq is the instrument's and changes only by
    import."""

    service_error_fields = {"reason": "exclusion_reason"}

    class Meta:
        model = m.Well
        fields = ("excluded", "exclusion_reason")

    def run_service(self):
        well = self.stored()
        if not self.changed(*self.Meta.fields):
            return well
        excluded = self.cleaned_data["excluded"]
        if excluded is None:
            return plate_services.well_clear_decision(well=well, user=self.user)
        decide = plate_services.well_exclude if excluded else plate_services.well_restore
        return decide(well=well, user=self.user, reason=self.cleaned_data["exclusion_reason"])


WELL_FACTS = (
    "plate",
    "row",
    "column",
    "kind",
    "sample",
    "assay",
    "replicate",
    "cq",
    "imported_from",
    "excluded_by",
    "excluded_at",
)


@admin.register(m.Well)
class WellAdmin(ServiceAdmin):
    list_display = (
        "plate",
        "position",
        "kind",
        "sample",
        "assay",
        "replicate",
        "cq",
        "excluded",
        "exclusion_reason",
    )
    list_filter = ("kind", "assay", "excluded", ("cq", admin.EmptyFieldListFilter))
    search_fields = ("plate__barcode", "sample__code")
    list_select_related = ("plate", "sample", "assay")
    raw_id_fields = ("plate", "sample")
    delete_service = service_delete(plate_services.well_delete, "well")

    def get_form(self, request, obj=None, **kwargs):
        kwargs["form"] = WellDecisionForm if obj else WellAddForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return WELL_FACTS if obj else ()


FOLLOW_UP_FIELDS = ("contact_date", "status", "cause_of_death")


class FollowUpForm(ServiceForm):
    """follow_up_record (who recorded it is the curator) / follow_up_update; the rules
    are follow_up_check's."""

    class Meta:
        model = m.FollowUp
        fields = ("patient", *FOLLOW_UP_FIELDS)

    def run_service(self):
        if self.instance.pk is None:
            return patient_services.follow_up_record(**self.cleaned_data, user=self.user)
        return patient_services.follow_up_update(
            follow_up=self.stored(), **self.changed(*FOLLOW_UP_FIELDS)
        )


@admin.register(m.FollowUp)
class FollowUpAdmin(ServiceAdmin):
    form = FollowUpForm
    delete_service = service_delete(patient_services.follow_up_delete, "follow_up")
    list_display = ("patient", "contact_date", "status", "cause_of_death", "recorded_by")
    list_filter = ("status", "cause_of_death")
    search_fields = ("patient__study_id",)
    list_select_related = ("patient", "recorded_by")
    autocomplete_fields = ("patient",)
    date_hierarchy = "contact_date"

    def get_readonly_fields(self, request, obj=None):
        return ("patient", "recorded_by") if obj else ("recorded_by",)


@admin.register(m.PlateImport)
class PlateImportAdmin(CuratorWritesMixin, admin.ModelAdmin):
    """Imports are made through the preview-and-confirm service; here they are read."""

    list_display = (
        "plate",
        "original_name",
        "format",
        "instrument",
        "imported_by",
        "imported_at",
        "wells_filled",
        "wells_changed",
        "reverted_at",
    )
    list_filter = ("format", "instrument", ("reverted_at", admin.EmptyFieldListFilter))
    search_fields = ("plate__barcode", "original_name", "sha256")
    list_select_related = ("plate", "imported_by")
    date_hierarchy = "imported_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(m.WellImportChange)
class WellImportChangeAdmin(CuratorWritesMixin, admin.ModelAdmin):
    """What each import wrote over, kept so the import can be reverted; read-only."""

    list_display = ("plate_import", "well", "action", "previous_cq", "new_cq")
    list_filter = ("action",)
    search_fields = ("plate_import__original_name", "well__plate__barcode")
    list_select_related = ("plate_import__plate", "well__plate")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ServiceWrittenAdmin(CuratorWritesMixin, admin.ModelAdmin):
    """Written only by biobank.services.retrieval (requests, decisions, holds): read here."""

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(m.RetrievalRequest)
class RetrievalRequestAdmin(ServiceWrittenAdmin):
    list_display = ["code", "status", "purpose", "requested_by", "requested_at", "decided_by"]
    list_filter = ["status"]
    list_select_related = ["requested_by", "decided_by"]
    search_fields = ["code", "purpose"]


@admin.register(m.RetrievalItem)
class RetrievalItemAdmin(ServiceWrittenAdmin):
    list_display = ["request", "aliquot", "status", "eligible"]
    list_filter = ["status"]
    list_select_related = ["request", "aliquot"]
    search_fields = ["request__code", "aliquot__barcode"]


@admin.register(m.LegalHold)
class LegalHoldAdmin(ServiceWrittenAdmin):
    list_display = ["__str__", "reason", "placed_by", "placed_at", "released_at"]
    list_select_related = ["patient", "aliquot", "placed_by"]
    search_fields = ["reason", "patient__study_id", "aliquot__barcode"]


@admin.register(m.PositionReservation)
class PositionReservationAdmin(ServiceWrittenAdmin):
    list_display = ["__str__", "reason", "created_by", "created_at"]
    list_select_related = ["box", "aliquot", "created_by"]
    search_fields = ["reason", "aliquot__barcode", "box__barcode"]


@admin.register(m.RackScanImport)
class RackScanImportAdmin(ServiceWrittenAdmin):
    """Each confirmed rack-scanner file (biobank.services.rack_scan): read-only, the
    custody log holds what it did to each tube."""

    list_display = ["imported_at", "box", "filename", "vendor", "tubes_moved", "imported_by"]
    list_select_related = ["box", "imported_by"]
    search_fields = ["filename", "rack_barcode", "box__barcode", "sha256"]
    date_hierarchy = "imported_at"
