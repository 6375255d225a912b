"""The curators' admin: every model, with search, filters and change history.

Writes that carry a rule (draw timing, follow-up order, custody of aliquots) go
through the same services as the web pages and the API; the admin forms call the
services' checks in clean() so a broken rule shows next to its field.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from simple_history.admin import SimpleHistoryAdmin

from biobank import models as m
from biobank.services import aliquots as aliquot_services
from biobank.services.draws import check_draw_timing, derive_draw_timing
from biobank.services.patients import follow_up_check
from biobank.services.storage import temperature_excursion_record

admin.site.site_header = "ExoTrack curation"
admin.site.site_title = "ExoTrack"
admin.site.index_title = "Sample chain and analyses"


class PatientIdentityInline(admin.StackedInline):
    model = m.PatientIdentity
    can_delete = False
    extra = 0


@admin.register(m.Patient)
class PatientAdmin(SimpleHistoryAdmin):
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

    def get_inlines(self, request, obj):
        """Identities only for those allowed to see them (the curator group)."""
        if request.user.has_perm("biobank.view_patientidentity"):
            return [PatientIdentityInline]
        return []


@admin.register(m.PatientIdentity)
class PatientIdentityAdmin(SimpleHistoryAdmin):
    list_display = ("patient", "full_name", "hospital_number", "date_of_birth")
    search_fields = ("patient__study_id", "full_name", "hospital_number")
    list_select_related = ("patient",)
    autocomplete_fields = ("patient",)


@admin.register(m.Treatment)
class TreatmentAdmin(SimpleHistoryAdmin):
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


@admin.register(m.ClinicalAssessment)
class ClinicalAssessmentAdmin(SimpleHistoryAdmin):
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
    readonly_fields = ("child_pugh_score", "child_pugh_grade", "child_pugh_disagrees")
    autocomplete_fields = ("patient", "treatment")


class SerumDrawForm(forms.ModelForm):
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

    def clean(self):
        data = super().clean()
        if data.get("treatment") and data.get("timepoint") and data.get("drawn_at"):
            check_draw_timing(
                treatment=data["treatment"], timepoint=data["timepoint"], drawn_at=data["drawn_at"]
            )
        return data


@admin.register(m.SerumDraw)
class SerumDrawAdmin(SimpleHistoryAdmin):
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

    def save_model(self, request, obj, form, change):
        derive_draw_timing(obj)  # the form's clean() already ran the timing rule
        super().save_model(request, obj, form, change)


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
class AliquotAdmin(SimpleHistoryAdmin):
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

    def _apply(self, request, queryset, service, verb):
        done = 0
        for aliquot in queryset.order_by("pk"):
            try:
                service(
                    aliquot=aliquot,
                    user=request.user,
                    reason=f"{verb} in the admin by {request.user}",
                )
                done += 1
            except ValidationError as error:
                self.message_user(
                    request, f"{aliquot.barcode}: {'; '.join(error.messages)}", messages.ERROR
                )
        if done:
            self.message_user(request, f"{done} aliquot(s) {verb}.", messages.SUCCESS)

    @admin.action(description="Check out the selected aliquots", permissions=["change"])
    def check_out(self, request, queryset):
        self._apply(request, queryset, aliquot_services.aliquot_check_out, "checked out")

    @admin.action(description="Discard the selected aliquots", permissions=["change"])
    def discard(self, request, queryset):
        self._apply(request, queryset, aliquot_services.aliquot_discard, "discarded")


@admin.register(m.StorageEvent)
class StorageEventAdmin(admin.ModelAdmin):
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


@admin.register(m.Freezer)
class FreezerAdmin(SimpleHistoryAdmin):
    list_display = ("name", "location", "set_point_c", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name", "location")


@admin.register(m.Rack)
class RackAdmin(SimpleHistoryAdmin):
    list_display = ("name", "freezer")
    list_filter = ("freezer",)
    search_fields = ("name", "freezer__name")
    list_select_related = ("freezer",)


@admin.register(m.Box)
class BoxAdmin(SimpleHistoryAdmin):
    list_display = ("barcode", "name", "rack", "rows", "columns", "occupied")
    list_filter = ("rack__freezer",)
    search_fields = ("barcode", "name")
    list_select_related = ("rack__freezer",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(occupied_count=Count("aliquots"))

    @admin.display(description="Occupied", ordering="occupied_count")
    def occupied(self, box):
        return f"{box.occupied_count} / {box.capacity}"


@admin.register(m.TemperatureExcursion)
class TemperatureExcursionAdmin(SimpleHistoryAdmin):
    list_display = ("freezer", "started_at", "ended_at", "peak_temperature_c", "recorded_by")
    list_filter = ("freezer",)
    readonly_fields = ("recorded_by", "affected_aliquots")
    date_hierarchy = "started_at"

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        # A new excursion marks every aliquot inside the freezer, through the service.
        saved = temperature_excursion_record(
            freezer=obj.freezer,
            started_at=obj.started_at,
            ended_at=obj.ended_at,
            peak_temperature_c=obj.peak_temperature_c,
            note=obj.note,
            user=request.user,
        )
        obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        """affected_aliquots is filled by the service, not by the form."""


class ExosomeIsolationInline(admin.TabularInline):
    model = m.ExosomeIsolation
    extra = 0
    can_delete = False
    readonly_fields = ("aliquot", "serum_volume_ul")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(m.ExosomeIsolationBatch)
class ExosomeIsolationBatchAdmin(SimpleHistoryAdmin):
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
class ExosomeIsolationAdmin(SimpleHistoryAdmin):
    list_display = ("batch", "aliquot", "serum_volume_ul")
    search_fields = ("batch__code", "aliquot__barcode")
    list_select_related = ("batch", "aliquot")
    readonly_fields = ("batch", "aliquot", "serum_volume_ul")

    def has_add_permission(self, request):
        return False


@admin.register(m.RnaIsolation)
class RnaIsolationAdmin(SimpleHistoryAdmin):
    list_display = ("isolation", "kit", "kit_lot", "performed_on", "sprec_code")
    search_fields = ("isolation__aliquot__barcode", "kit_lot")
    list_select_related = ("isolation__batch", "isolation__aliquot")
    date_hierarchy = "performed_on"
    raw_id_fields = ("isolation",)


@admin.register(m.ReverseTranscription)
class ReverseTranscriptionAdmin(SimpleHistoryAdmin):
    list_display = ("code", "kit_lot", "performed_on")
    search_fields = ("code", "kit_lot")
    date_hierarchy = "performed_on"
    raw_id_fields = ("rna",)
    filter_horizontal = ("assays",)


@admin.register(m.Assay)
class AssayAdmin(SimpleHistoryAdmin):
    list_display = ("target", "role", "vendor", "vendor_assay_id")
    list_filter = ("role",)
    search_fields = ("target", "vendor_assay_id")


@admin.register(m.QpcrPlate)
class QpcrPlateAdmin(SimpleHistoryAdmin):
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


@admin.register(m.Well)
class WellAdmin(SimpleHistoryAdmin):
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


class FollowUpForm(forms.ModelForm):
    class Meta:
        model = m.FollowUp
        fields = ("patient", "contact_date", "status", "cause_of_death")

    def clean(self):
        data = super().clean()
        if data.get("patient") and data.get("contact_date") and data.get("status"):
            follow_up_check(
                patient=data["patient"],
                contact_date=data["contact_date"],
                status=data["status"],
                cause_of_death=data.get("cause_of_death", ""),
                exclude_pk=self.instance.pk,
            )
        return data


@admin.register(m.FollowUp)
class FollowUpAdmin(SimpleHistoryAdmin):
    form = FollowUpForm
    list_display = ("patient", "contact_date", "status", "cause_of_death", "recorded_by")
    list_filter = ("status", "cause_of_death")
    search_fields = ("patient__study_id",)
    list_select_related = ("patient", "recorded_by")
    autocomplete_fields = ("patient",)
    date_hierarchy = "contact_date"

    def save_model(self, request, obj, form, change):
        if not change:
            obj.recorded_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(m.PlateImport)
class PlateImportAdmin(admin.ModelAdmin):
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
class WellImportChangeAdmin(admin.ModelAdmin):
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
