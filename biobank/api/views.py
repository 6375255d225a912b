"""API v1 views. Reads use select_related / prefetch / subquery annotations, so a
list runs a constant number of queries whatever the page size (tests/api pins them);
every write calls a service in biobank.services (or analysis.services) and answers
with the record as it is now.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action
from rest_framework.mixins import ListModelMixin, RetrieveModelMixin
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView
from rest_framework.viewsets import GenericViewSet

from analysis.models import AnalysisPlan, AnalysisRun
from biobank import filtersets
from biobank.lockout import lockout_response
from biobank.models import (
    Assay,
    ClinicalAssessment,
    ExosomeIsolation,
    ExosomeIsolationBatch,
    FollowUp,
    Freezer,
    PatientIdentity,
    PlateImport,
    Rack,
    ReverseTranscription,
    RnaIsolation,
    StorageEvent,
    Treatment,
)
from biobank.selectors import rdml_export as rdml_selectors
from biobank.selectors.boxes import boxes_listed
from biobank.selectors.draws import draws_listed
from biobank.selectors.patients import patients_listed
from biobank.selectors.plate_imports import plate_import_history
from biobank.selectors.plates import plates_listed, well_rows, wells_listed
from biobank.selectors.processing import scanned_chain
from biobank.selectors.samples import aliquot_rows, aliquots_with_place
from biobank.services import aliquots as aliquot_services
from biobank.services import draws as draw_services
from biobank.services import patients as patient_services
from biobank.services import plate_import as import_services
from biobank.services import plates as plate_services
from biobank.services import processing as processing_services
from biobank.services import storage as storage_services
from biobank.services.plate_import_revert import plate_import_revert

from . import serializers as s
from .idempotency import idempotent
from .pagination import LargeCollectionPagination
from .permissions import CuratorOnly, RolePermission

VALIDATION_ERROR = OpenApiResponse(
    description="The field names map to what is wrong (`non_field_errors` for the rest)"
)


def reanalysis_run(*, plan: AnalysisPlan, user) -> AnalysisRun:
    """The one place the API starts an analysis run: the same path as the report page's
    re-run button (queued for a worker when a broker is configured, computed here
    before the answer when none is)."""
    from analysis.tasks import current_run, request_run

    run = request_run(plan=plan, trigger=AnalysisRun.Trigger.MANUAL, user=user)
    return current_run(run.pk) or run  # or the run that replaced it after a transient fault


class ReadViewSet(ListModelMixin, RetrieveModelMixin, GenericViewSet):
    """List and retrieve; writes are added per viewset, each through its service.

    `write_permission` may be set per action (`@action(..., write_permission=...)`),
    see biobank.api.permissions.RolePermission.

    A large list may set `list_rows` (a function giving a `.values()` queryset) and
    `list_renderer` (a serializers.ValueRows): the list then filters, orders and pages
    those rows and renders them as `serializer_class` would, which stays the schema.
    """

    write_permission: str | None = None
    read_permission: str | None = None
    detail_serializer_class = None
    list_rows = None
    list_renderer = None

    def list(self, request, *args, **kwargs):
        if self.list_rows is None:
            return super().list(request, *args, **kwargs)
        rows = self.filter_queryset(self.list_rows())
        page = self.paginate_queryset(rows)
        if page is None:
            return Response(self.list_renderer.render(rows))
        return self.get_paginated_response(self.list_renderer.render(page))

    def get_serializer_class(self):
        if self.action == "retrieve" and self.detail_serializer_class is not None:
            return self.detail_serializer_class
        return self.serializer_class

    def validated(self, serializer_class, *, partial: bool = False) -> dict:
        serializer = serializer_class(
            data=self.request.data, partial=partial, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def answer(self, instance, status_code=status.HTTP_200_OK, *, serializer_class=None):
        """The record as the list shows it (annotations included), read again."""
        fresh = self.get_queryset().get(pk=instance.pk)
        serializer_class = serializer_class or self.serializer_class
        return Response(
            serializer_class(fresh, context=self.get_serializer_context()).data,
            status=status_code,
        )


class ServiceUpdateMixin:
    """PUT and PATCH through an update service: `update_input` validates, then
    `perform_service_update(instance, values)` writes."""

    update_input = None

    @idempotent
    def update(self, request, *args, **kwargs):
        return self._update(partial=False)

    @idempotent
    def partial_update(self, request, *args, **kwargs):
        return self._update(partial=True)

    def _update(self, *, partial: bool):
        instance = self.get_object()
        values = self.validated(self.update_input, partial=partial)
        return self.answer(self.perform_service_update(instance, dict(values)))


# ---------------------------------------------------------------- patients


@extend_schema_view(
    create=extend_schema(
        request=s.PatientInput, responses={201: s.PatientSerializer, 400: VALIDATION_ERROR}
    ),
)
class PatientViewSet(ReadViewSet):
    """Patients, pseudonymous (study id, baseline characteristics, consent).

    Identities are at /api/v1/patient-identities/ for curators only."""

    queryset = patients_listed()
    serializer_class = s.PatientSerializer
    filterset_class = filtersets.PatientFilterSet
    ordering_fields = ["study_id", "age_at_enrolment", "consent_date", "withdrawn_on"]
    ordering = ["study_id"]

    @idempotent
    def create(self, request, *args, **kwargs):
        values = dict(self.validated(s.PatientInput))
        identity = values.pop("identity", None)
        patient = patient_services.patient_create(
            **values, identity=dict(identity) if identity else None
        )
        return self.answer(patient, status.HTTP_201_CREATED)

    @extend_schema(
        request=s.PatientWithdrawInput,
        responses={200: s.PatientSerializer, 400: VALIDATION_ERROR},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def withdraw(self, request, pk=None):
        """Record the withdrawal of consent: the patient stays, marked, and leaves analyses
        and exports."""
        values = self.validated(s.PatientWithdrawInput)
        patient = patient_services.patient_withdraw(
            patient=self.get_object(),
            withdrawn_on=values["withdrawn_on"],
            reason=values["reason"],
        )
        return self.answer(patient)


class PatientIdentityViewSet(ReadViewSet):
    """Who each patient is: curators only. Read-only (enrol a patient with its identity
    through POST /api/v1/patients/)."""

    queryset = PatientIdentity.objects.select_related("patient")
    serializer_class = s.PatientIdentitySerializer
    filterset_class = filtersets.PatientIdentityFilterSet
    permission_classes = [RolePermission, CuratorOnly]
    ordering_fields = ["patient__study_id"]
    ordering = ["patient__study_id"]


@extend_schema_view(
    create=extend_schema(
        request=s.TreatmentInput, responses={201: s.TreatmentSerializer, 400: VALIDATION_ERROR}
    ),
)
class TreatmentViewSet(ReadViewSet):
    queryset = Treatment.objects.select_related("patient")
    serializer_class = s.TreatmentSerializer
    filterset_class = filtersets.TreatmentFilterSet
    ordering_fields = ["performed_on", "patient__study_id"]
    ordering = ["patient__study_id", "performed_on", "id"]

    @idempotent
    def create(self, request, *args, **kwargs):
        treatment = patient_services.treatment_create(**self.validated(s.TreatmentInput))
        return self.answer(treatment, status.HTTP_201_CREATED)


@extend_schema_view(
    create=extend_schema(
        request=s.ClinicalAssessmentInput,
        responses={201: s.ClinicalAssessmentSerializer, 400: VALIDATION_ERROR},
    ),
    update=extend_schema(
        request=s.ClinicalAssessmentUpdateInput,
        responses={200: s.ClinicalAssessmentSerializer, 400: VALIDATION_ERROR},
    ),
    partial_update=extend_schema(
        request=s.ClinicalAssessmentUpdateInput,
        responses={200: s.ClinicalAssessmentSerializer, 400: VALIDATION_ERROR},
    ),
)
class ClinicalAssessmentViewSet(ServiceUpdateMixin, ReadViewSet):
    """Baselines (pre-TACE). Ranges are checked (a PT of 750 % is refused naming
    `pt_percent`); the Child-Pugh score is derived and a disagreeing recorded score
    flagged."""

    queryset = ClinicalAssessment.objects.select_related("patient")
    serializer_class = s.ClinicalAssessmentSerializer
    filterset_class = filtersets.ClinicalAssessmentFilterSet
    update_input = s.ClinicalAssessmentUpdateInput
    ordering_fields = ["assessed_on", "patient__study_id", "child_pugh_score"]
    ordering = ["patient__study_id", "assessed_on", "id"]

    @idempotent
    def create(self, request, *args, **kwargs):
        assessment = patient_services.clinical_assessment_record(
            **self.validated(s.ClinicalAssessmentInput)
        )
        return self.answer(assessment, status.HTTP_201_CREATED)

    def perform_service_update(self, instance, values):
        return patient_services.clinical_assessment_update(assessment=instance, **values)


@extend_schema_view(
    create=extend_schema(
        request=s.FollowUpInput, responses={201: s.FollowUpSerializer, 400: VALIDATION_ERROR}
    ),
    update=extend_schema(
        request=s.FollowUpUpdateInput,
        responses={200: s.FollowUpSerializer, 400: VALIDATION_ERROR},
    ),
    partial_update=extend_schema(
        request=s.FollowUpUpdateInput,
        responses={200: s.FollowUpSerializer, 400: VALIDATION_ERROR},
    ),
)
class FollowUpViewSet(ServiceUpdateMixin, ReadViewSet):
    queryset = FollowUp.objects.select_related("patient", "recorded_by")
    serializer_class = s.FollowUpSerializer
    filterset_class = filtersets.FollowUpFilterSet
    update_input = s.FollowUpUpdateInput
    ordering_fields = ["contact_date", "patient__study_id"]
    ordering = ["patient__study_id", "contact_date", "id"]

    @idempotent
    def create(self, request, *args, **kwargs):
        follow_up = patient_services.follow_up_record(
            **self.validated(s.FollowUpInput), user=request.user
        )
        return self.answer(follow_up, status.HTTP_201_CREATED)

    def perform_service_update(self, instance, values):
        return patient_services.follow_up_update(follow_up=instance, **values)


# ---------------------------------------------------------------- draws and aliquots


@extend_schema_view(
    create=extend_schema(
        request=s.SerumDrawInput, responses={201: s.SerumDrawSerializer, 400: VALIDATION_ERROR}
    ),
    update=extend_schema(
        request=s.SerumDrawUpdateInput,
        responses={200: s.SerumDrawSerializer, 400: VALIDATION_ERROR},
    ),
    partial_update=extend_schema(
        request=s.SerumDrawUpdateInput,
        responses={200: s.SerumDrawSerializer, 400: VALIDATION_ERROR},
    ),
)
class SerumDrawViewSet(ServiceUpdateMixin, ReadViewSet):
    """Serum draws, PRE or POST a TACE. A POST draw before its TACE is refused; one
    outside the 5-10 day window is accepted and flagged (`outside_window`)."""

    queryset = draws_listed()
    serializer_class = s.SerumDrawSerializer
    filterset_class = filtersets.SerumDrawFilterSet
    update_input = s.SerumDrawUpdateInput
    ordering_fields = ["drawn_at", "patient__study_id", "timepoint"]
    ordering = ["patient__study_id", "drawn_at", "id"]

    @idempotent
    def create(self, request, *args, **kwargs):
        draw = draw_services.serum_draw_register(**self.validated(s.SerumDrawInput))
        return self.answer(draw, status.HTTP_201_CREATED)

    def perform_service_update(self, instance, values):
        return draw_services.serum_draw_update(draw=instance, **values)


def _position(values) -> aliquot_services.Position:
    return aliquot_services.Position(box=values["box"], row=values["row"], column=values["column"])


ALIQUOT_ANSWER = {200: s.AliquotSerializer, 400: VALIDATION_ERROR}


@extend_schema_view(
    create=extend_schema(
        request=s.AliquotsInput,
        responses={201: s.AliquotSerializer(many=True), 400: VALIDATION_ERROR},
        description="Cut one aliquot per position from a draw and check each in.",
    ),
)
class AliquotViewSet(ReadViewSet):
    """Aliquots with where they are. Every change of place, state or volume is an
    action (check-out, check-in, move, thaw, consume, discard) written through the
    custody services, each logged as a storage event."""

    queryset = aliquots_with_place()
    serializer_class = s.AliquotSerializer
    list_rows, list_renderer = staticmethod(aliquot_rows), s.ALIQUOT_ROWS
    filterset_class = filtersets.AliquotFilterSet
    pagination_class = LargeCollectionPagination
    ordering_fields = ["barcode", "created_at", "id"]
    ordering = ["barcode"]

    @idempotent
    def create(self, request, *args, **kwargs):
        values = self.validated(s.AliquotsInput)
        created = aliquot_services.aliquots_create(
            draw=values["draw"],
            volume_ul=values["volume_ul"],
            user=request.user,
            positions=[_position(position) for position in values["positions"]],
            barcodes=values.get("barcodes"),
        )
        fresh = self.get_queryset().filter(pk__in=[a.pk for a in created]).order_by("barcode")
        return Response(
            s.AliquotSerializer(fresh, many=True, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(request=s.ReasonInput, responses=ALIQUOT_ANSWER)
    @action(detail=True, methods=["post"], url_path="check-out")
    @idempotent
    def check_out(self, request, pk=None):
        values = self.validated(s.ReasonInput)
        return self.answer(
            aliquot_services.aliquot_check_out(
                aliquot=self.get_object(), user=request.user, reason=values["reason"]
            )
        )

    @extend_schema(request=s.PlaceInput, responses=ALIQUOT_ANSWER)
    @action(detail=True, methods=["post"], url_path="check-in")
    @idempotent
    def check_in(self, request, pk=None):
        values = self.validated(s.PlaceInput)
        return self.answer(
            aliquot_services.aliquot_check_in(
                aliquot=self.get_object(),
                position=_position(values),
                user=request.user,
                reason=values["reason"],
            )
        )

    @extend_schema(request=s.MoveInput, responses=ALIQUOT_ANSWER)
    @action(detail=True, methods=["post"])
    @idempotent
    def move(self, request, pk=None):
        values = self.validated(s.MoveInput)
        return self.answer(
            aliquot_services.aliquot_move(
                aliquot=self.get_object(),
                position=_position(values),
                user=request.user,
                reason=values["reason"],
            )
        )

    @extend_schema(request=s.ReasonInput, responses=ALIQUOT_ANSWER)
    @action(detail=True, methods=["post"])
    @idempotent
    def thaw(self, request, pk=None):
        values = self.validated(s.ReasonInput)
        return self.answer(
            aliquot_services.aliquot_thaw(
                aliquot=self.get_object(), user=request.user, reason=values["reason"]
            )
        )

    @extend_schema(request=s.ConsumeInput, responses=ALIQUOT_ANSWER)
    @action(detail=True, methods=["post"])
    @idempotent
    def consume(self, request, pk=None):
        values = self.validated(s.ConsumeInput)
        return self.answer(
            aliquot_services.aliquot_consume(
                aliquot=self.get_object(),
                volume_ul=values["volume_ul"],
                user=request.user,
                reason=values["reason"],
            )
        )

    @extend_schema(request=s.ReasonInput, responses=ALIQUOT_ANSWER)
    @action(detail=True, methods=["post"])
    @idempotent
    def discard(self, request, pk=None):
        values = self.validated(s.ReasonInput)
        return self.answer(
            aliquot_services.aliquot_discard(
                aliquot=self.get_object(), user=request.user, reason=values["reason"]
            )
        )


class StorageEventViewSet(ReadViewSet):
    """The custody log: read-only (the services write it)."""

    queryset = StorageEvent.objects.select_related("aliquot", "user")
    serializer_class = s.StorageEventSerializer
    filterset_class = filtersets.StorageEventFilterSet
    pagination_class = LargeCollectionPagination
    ordering_fields = ["at", "id"]
    ordering = ["-at", "-id"]


# ---------------------------------------------------------------- storage


class FreezerViewSet(ReadViewSet):
    queryset = Freezer.objects.all()
    serializer_class = s.FreezerSerializer
    filterset_class = filtersets.FreezerFilterSet
    ordering_fields = ["name"]
    ordering = ["name"]


class RackViewSet(ReadViewSet):
    queryset = Rack.objects.select_related("freezer")
    serializer_class = s.RackSerializer
    filterset_class = filtersets.RackFilterSet
    ordering_fields = ["name"]
    ordering = ["freezer__name", "name"]


@extend_schema_view(
    create=extend_schema(
        request=s.BoxInput, responses={201: s.BoxDetailSerializer, 400: VALIDATION_ERROR}
    ),
)
class BoxViewSet(ReadViewSet):
    """Boxes with their occupancy: `n_stored` and `free` in the list, and every taken
    position in the detail."""

    queryset = boxes_listed()
    serializer_class = s.BoxSerializer
    detail_serializer_class = s.BoxDetailSerializer
    filterset_class = filtersets.BoxFilterSet
    ordering_fields = ["barcode", "name", "n_stored"]
    ordering = ["rack__freezer__name", "rack__name", "name", "id"]

    @idempotent
    def create(self, request, *args, **kwargs):
        box = storage_services.box_create(**self.validated(s.BoxInput))
        return self.answer(box, status.HTTP_201_CREATED, serializer_class=s.BoxDetailSerializer)


# ---------------------------------------------------------------- processing


@extend_schema_view(
    create=extend_schema(
        request=s.ExosomeIsolationBatchInput,
        responses={201: s.ExosomeIsolationBatchSerializer, 400: VALIDATION_ERROR},
        description="Record an ExoQuick batch; the serum is taken from each aliquot in the "
        "same transaction, or, when one aliquot is short, from none.",
    ),
)
class ExtractionBatchViewSet(ReadViewSet):
    """Exosome isolation (ExoQuick) batches and the aliquots each took serum from."""

    queryset = ExosomeIsolationBatch.objects.select_related("operator").prefetch_related(
        Prefetch(
            "isolations",
            queryset=ExosomeIsolation.objects.select_related("aliquot").order_by(
                "aliquot__barcode"
            ),
        )
    )
    serializer_class = s.ExosomeIsolationBatchSerializer
    filterset_class = filtersets.ExosomeIsolationBatchFilterSet
    ordering_fields = ["performed_on", "code"]
    ordering = ["-performed_on", "code"]

    @idempotent
    def create(self, request, *args, **kwargs):
        values = dict(self.validated(s.ExosomeIsolationBatchInput))
        batch = processing_services.exosome_isolation_batch_record(**values, user=request.user)
        return self.answer(batch, status.HTTP_201_CREATED)

    @extend_schema(
        request=s.RnaIsolationBatchInput,
        responses={201: s.RnaIsolationSerializer(many=True), 400: VALIDATION_ERROR},
        description="Isolate the RNA of the tubes named (by barcode, from any batch) with one "
        "kit, lot, elution volume and date; one sample refused refuses them all, naming it.",
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="isolate-rna",
        write_permission="biobank.add_rnaisolation",
    )
    @idempotent
    def isolate_rna(self, request):
        values = dict(self.validated(s.RnaIsolationBatchInput))
        rows, deviations = _bench_samples(values.pop("samples"), step="rna")
        made = processing_services.rna_isolation_batch_record(
            isolations=[row.isolation for row in rows],
            deviations={row.isolation.pk: deviations[row.barcode] for row in rows},
            user=request.user,
            **values,
        )
        fresh = RnaIsolation.objects.select_related(
            "operator", "isolation__aliquot", "isolation__batch"
        ).filter(pk__in=[rna.pk for rna in made])
        return Response(
            s.RnaIsolationSerializer(
                fresh.order_by("pk"), many=True, context=self.get_serializer_context()
            ).data,
            status=status.HTTP_201_CREATED,
        )


def _bench_samples(samples: list[dict], *, step: str):
    """The chain rows of the tubes named, as the scanning page finds them, and each
    tube's deviation; a barcode that names no usable tube is a 400 on `samples`."""
    barcodes = [sample["aliquot"].strip() for sample in samples]
    if len(set(barcodes)) != len(barcodes):
        raise DjangoValidationError({"samples": "A tube is listed twice"})
    chain, problems = scanned_chain(barcodes, step=step)
    if problems:
        raise DjangoValidationError({"samples": problems})
    deviations = {
        barcode: sample.get("deviation", "")
        for barcode, sample in zip(barcodes, samples, strict=True)
    }
    return chain.rows, deviations


@extend_schema_view(
    create=extend_schema(
        request=s.ReverseTranscriptionBatchInput,
        responses={201: s.ReverseTranscriptionSerializer(many=True), 400: VALIDATION_ERROR},
        description="Reverse-transcribe the latest RNA of each tube named (by barcode) with "
        "one kit, lot, primer pool, input volume and date; the codes are generated "
        "(<aliquot barcode>-RT<n>); one sample refused refuses them all, naming it.",
    ),
)
class ReverseTranscriptionViewSet(ReadViewSet):
    """cDNA products: what a plate layout's samples are."""

    queryset = ReverseTranscription.objects.select_related(
        "rna__isolation__aliquot__draw__patient"
    ).prefetch_related("assays")
    serializer_class = s.ReverseTranscriptionSerializer
    filterset_class = filtersets.ReverseTranscriptionFilterSet
    ordering_fields = ["code", "performed_on"]
    ordering = ["code"]

    @idempotent
    def create(self, request, *args, **kwargs):
        values = dict(self.validated(s.ReverseTranscriptionBatchInput))
        rows, deviations = _bench_samples(values.pop("samples"), step="rt")
        made = processing_services.reverse_transcription_batch_record(
            rnas=[row.rna for row in rows],
            deviations={row.rna.pk: deviations[row.barcode] for row in rows},
            user=request.user,
            **values,
        )
        fresh = self.get_queryset().filter(pk__in=[p.pk for p in made]).order_by("code")
        return Response(self.get_serializer(fresh, many=True).data, status=status.HTTP_201_CREATED)


# ---------------------------------------------------------------- qPCR


class AssayViewSet(ReadViewSet):
    queryset = Assay.objects.all()
    serializer_class = s.AssaySerializer
    filterset_class = filtersets.AssayFilterSet
    ordering_fields = ["target", "role"]
    ordering = ["role", "target"]


@extend_schema_view(
    create=extend_schema(
        request=s.QpcrPlateInput, responses={201: s.QpcrPlateSerializer, 400: VALIDATION_ERROR}
    ),
)
class PlateViewSet(ReadViewSet):
    """qPCR plates: create, lay out, then import the instrument export in two steps
    (preview, then confirm: nothing is written by the preview)."""

    queryset = plates_listed()
    serializer_class = s.QpcrPlateSerializer
    filterset_class = filtersets.QpcrPlateFilterSet
    ordering_fields = ["barcode", "created_at", "run_at"]
    ordering = ["-created_at", "barcode"]

    @idempotent
    def create(self, request, *args, **kwargs):
        plate = plate_services.plate_create(
            **self.validated(s.QpcrPlateInput), operator=request.user
        )
        return self.answer(plate, status.HTTP_201_CREATED)

    @extend_schema(
        request=s.PlateLayoutInput,
        responses={200: s.WellSerializer(many=True), 400: VALIDATION_ERROR},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def layout(self, request, pk=None):
        """Lay out every sample x assay in replicates, a calibrator, and the NTCs."""
        values = self.validated(s.PlateLayoutInput)
        plate = self.get_object()
        plate_services.plate_layout(plate=plate, **values)
        wells = WellViewSet.queryset.filter(plate=plate).order_by("row", "column")
        return Response(
            s.WellSerializer(wells, many=True, context=self.get_serializer_context()).data
        )

    def _import_values(self):
        values = self.validated(s.PlateImportInput)
        upload = values["file"]
        return dict(
            plate=self.get_object(),
            data=upload.read(),
            filename=upload.name or "export",
            format=values["format"],
            run=values["run"],
            dye_assays=values["dye_assays"],
        ), values

    @extend_schema(
        request={"multipart/form-data": s.PlateImportInput},
        responses={200: s.PlateImportPreviewSerializer, 400: VALIDATION_ERROR},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="import-preview",
        parser_classes=[MultiPartParser, FormParser],
    )
    def import_preview(self, request, pk=None):
        """What the export would do to every well, the patients and analyses it would
        touch, the dyes a multiplex file needs mapped; writes nothing."""
        arguments, _values = self._import_values()
        preview = import_services.plate_import_preview(**arguments)
        return Response(preview.to_dict())

    @extend_schema(
        request={"multipart/form-data": s.PlateImportInput},
        responses={201: s.PlateImportSerializer, 400: VALIDATION_ERROR},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="import",
        url_name="import",
        parser_classes=[MultiPartParser, FormParser],
    )
    @idempotent
    def import_confirm(self, request, pk=None):
        """Write what the preview shows. Refused, with nothing saved, when it has errors
        or nothing to import, when it changes existing Cq values without `replace` and a
        `reason`, or when the file's sample names disagree with the layout in more than
        half of the wells it names (a curator may confirm with an `override_reason`)."""
        arguments, values = self._import_values()
        record = import_services.plate_import_confirm(
            **arguments,
            user=request.user,
            replace=values["replace"],
            reason=values["reason"],
            override_reason=values["override_reason"],
        )
        return Response(
            s.PlateImportSerializer(record, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )

    def perform_content_negotiation(self, request, force=False):
        # The RDML downloads are a zip whatever the client accepts; errors stay JSON.
        if self.action in {"rdml", "study_rdml"}:
            renderer = JSONRenderer()
            return renderer, renderer.media_type
        return super().perform_content_negotiation(request, force)

    @extend_schema(
        operation_id="plate_rdml",
        responses={(200, "application/zip"): OpenApiTypes.BINARY},
        description="The plate as RDML 1.3 (a zip holding rdml_data.xml): layout, "
        "samples, targets, Cq and exclusions (docs/instruments.md, RDML export).",
    )
    @action(detail=True, methods=["get"], url_path="rdml", url_name="rdml")
    def rdml(self, request, pk=None):
        plate = self.get_object()
        return rdml_response(rdml_selectors.plate_rdml(plate), f"{plate.barcode}.rdml")

    @extend_schema(
        operation_id="plates_rdml",
        responses={(200, "application/zip"): OpenApiTypes.BINARY},
        description="Every plate that holds wells, one RDML run per plate.",
    )
    @action(detail=False, methods=["get"], url_path="rdml", url_name="study-rdml")
    def study_rdml(self, request):
        return rdml_response(rdml_selectors.study_rdml(), "exotrack-plates.rdml")

    @extend_schema(responses={200: s.PlateImportSerializer(many=True)})
    @action(detail=True, methods=["get"], url_path="imports", url_name="imports")
    def imports(self, request, pk=None):
        """The plate's imports, newest first, live or reverted."""
        records = plate_import_history(self.get_object())  # as the plate page lists them
        return Response(
            s.PlateImportSerializer(records, many=True, context=self.get_serializer_context()).data
        )

    @extend_schema(
        request=s.PlateImportRevertInput,
        responses={200: s.PlateImportSerializer, 400: VALIDATION_ERROR},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="import-revert",
        url_name="import-revert",
        write_permission="biobank.change_plateimport",
    )
    @idempotent
    def import_revert(self, request, pk=None):
        """Put back every well the import wrote (previous Cq, import and exclusion
        decision), logged with who and why; the analyses re-run. Refused when already
        reverted, or when a later live import changed the same wells (revert it first)."""
        values = self.validated(s.PlateImportRevertInput)
        plate = self.get_object()
        record = PlateImport.objects.filter(plate=plate, pk=values["plate_import"]).first()
        if record is None:
            raise DjangoValidationError(
                {"plate_import": f"Plate {plate.barcode} has no import #{values['plate_import']}"}
            )
        record = plate_import_revert(
            plate_import=record, user=request.user, reason=values["reason"]
        )
        record = PlateImport.objects.select_related("imported_by", "reverted_by").get(pk=record.pk)
        return Response(s.PlateImportSerializer(record, context=self.get_serializer_context()).data)


def rdml_response(data: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


WELL_ANSWER = {200: s.WellSerializer, 400: VALIDATION_ERROR}


class WellViewSet(ReadViewSet):
    """Wells with their sample, patient, timepoint, assay and Cq. A well decision (exclude,
    or keep what the automatic QC would exclude, with the reason) needs change_well, as on
    the QC page: the bench's technicians and the curators; the import fills Cq."""

    queryset = wells_listed()
    serializer_class = s.WellSerializer
    list_rows, list_renderer = staticmethod(well_rows), s.WELL_ROWS
    filterset_class = filtersets.WellFilterSet
    pagination_class = LargeCollectionPagination
    ordering_fields = ["plate_id", "id"]
    ordering = ["plate_id", "row", "column"]

    @extend_schema(request=s.ReasonInput, responses=WELL_ANSWER)
    @action(detail=True, methods=["post"])
    @idempotent
    def exclude(self, request, pk=None):
        values = self.validated(s.ReasonInput)
        well = plate_services.well_exclude(
            well=self.get_object(), user=request.user, reason=values["reason"]
        )
        return self.answer(well)

    @extend_schema(request=s.ReasonInput, responses=WELL_ANSWER)
    @action(detail=True, methods=["post"])
    @idempotent
    def restore(self, request, pk=None):
        """Keep a well the automatic QC would exclude (a decision too, with its reason)."""
        values = self.validated(s.ReasonInput)
        well = plate_services.well_restore(
            well=self.get_object(), user=request.user, reason=values["reason"]
        )
        return self.answer(well)

    @extend_schema(request=None, responses=WELL_ANSWER)
    @action(detail=True, methods=["post"], url_path="clear-decision")
    @idempotent
    def clear_decision(self, request, pk=None):
        """Hand the well back to the automatic QC."""
        well = plate_services.well_clear_decision(well=self.get_object(), user=request.user)
        return self.answer(well)


# ---------------------------------------------------------------- analysis


class AnalysisPlanViewSet(ReadViewSet):
    """Analysis plans (the analyses as data) and re-running one by hand."""

    queryset = AnalysisPlan.objects.all()
    serializer_class = s.AnalysisPlanSerializer
    filterset_class = filtersets.AnalysisPlanFilterSet
    ordering_fields = ["name", "updated_at"]
    ordering = ["name"]

    @extend_schema(request=None, responses={201: s.AnalysisRunDetailSerializer})
    @action(detail=True, methods=["post"], write_permission="analysis.add_analysisrun")
    def rerun(self, request, pk=None):
        """Run the plan on today's data (an unchanged input gives an `unchanged` run).
        With a Celery worker the run comes back `queued` or `running`: poll
        /api/v1/analysis-runs/{id}/."""
        run = reanalysis_run(plan=self.get_object(), user=request.user)
        return Response(
            s.AnalysisRunDetailSerializer(
                AnalysisRun.objects.select_related("plan", "requested_by").get(pk=run.pk),
                context=self.get_serializer_context(),
            ).data,
            status=status.HTTP_201_CREATED,
        )


class AnalysisRunViewSet(ReadViewSet):
    """Runs with their provenance; the detail carries the results and figures (SVG)."""

    queryset = AnalysisRun.objects.select_related("plan", "requested_by").defer(
        "results", "rows", "figures", "diff", "spec", "parameters", "versions"
    )
    serializer_class = s.AnalysisRunSerializer
    detail_serializer_class = s.AnalysisRunDetailSerializer
    filterset_class = filtersets.AnalysisRunFilterSet
    ordering_fields = ["created_at", "finished_at"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self):
        if self.action == "retrieve":
            return AnalysisRun.objects.select_related("plan", "requested_by")
        return super().get_queryset()


# ---------------------------------------------------------------- export and token


class CohortExportView(APIView):
    """The analysis-ready cohort, one row a consenting patient, never an identity.

    Streamed: the header (fingerprint of exactly the rows sent, export time, count)
    comes first, then the rows; memory does not grow with the number of patients."""

    permission_classes = [RolePermission]
    read_permission = "analysis.view_analysisrun"
    export_format = "csv"

    def perform_content_negotiation(self, request, force=False):
        # The body is CSV or JSON whatever the client accepts; errors are always JSON.
        renderer = JSONRenderer()
        return renderer, renderer.media_type

    def get(self, request, *args, **kwargs):
        # The export builds the cohort with pandas: imported by the request that asks
        # for it, not when the URLconf loads this module (issue 16).
        from .exports import prepare_cohort_export

        export = prepare_cohort_export(self.export_format)
        response = StreamingHttpResponse(export.stream(), content_type=export.content_type)
        response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
        response["X-Cohort-Fingerprint"] = f"sha256:{export.fingerprint}"
        response["X-Cohort-Patients"] = str(export.patients)
        response["Cache-Control"] = "no-store"
        return response


class CohortExportCsvView(CohortExportView):
    export_format = "csv"

    @extend_schema(
        operation_id="export_cohort_csv",
        responses={(200, "text/csv"): OpenApiTypes.STR},
        description="CSV: comment lines (`# fingerprint: sha256:…`, `# exported_at: …`), "
        "then a header row and one row a patient; missing values are empty (docs/cohort.md).",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class CohortExportJsonView(CohortExportView):
    export_format = "json"

    @extend_schema(
        operation_id="export_cohort_json",
        responses={
            200: inline_serializer(
                "CohortExport",
                {
                    "fingerprint": serializers.CharField(),
                    "exported_at": serializers.DateTimeField(),
                    "n_patients": serializers.IntegerField(),
                    "columns": serializers.ListField(child=serializers.CharField()),
                    "patients": serializers.ListField(child=serializers.DictField()),
                },
            )
        },
        description="JSON: fingerprint, export time and the columns, then `patients`, one "
        "object a patient; missing values are null (docs/cohort.md).",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


@csrf_exempt
def api_not_found(request, *args, **kwargs):
    """Any other path under /api/: a JSON 404 (Django's would be an HTML page).

    Exempt from CSRF (it changes nothing): else a POST with a session cookie to a
    path no route matches (an id of "0.5") got the CSRF failure's HTML 403."""
    detail = "Not found."
    if not request.path.endswith("/"):
        detail += f" API paths end with a slash: {request.path}/"
    return JsonResponse({"detail": detail}, status=404)


class TokenView(ObtainAuthToken):
    """Exchange a username and password for the API token (rate-limited per address,
    and locked per user name + address after repeated failures, as the login page)."""

    authentication_classes = []
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "token"

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except serializers.ValidationError:
            # django-axes marks the request it was given, here DRF's: its middleware
            # only sees Django's, so the lockout answer is made here.
            if getattr(request, "axes_locked_out", False):
                return lockout_response(request)
            raise
