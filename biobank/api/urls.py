"""API routes: /api/v1/… (the router's viewsets, the export, the token), the OpenAPI
schema at /api/schema/ and its browsable docs at /api/docs/ (Swagger UI) and
/api/redoc/ (ReDoc). Both are served from the application's static files
(drf-spectacular-sidecar), so they work on a closed network; Swagger UI's start-up
script is a separate request (the split view), so the CSP needs no inline script."""

from django.urls import include, path, re_path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)
from rest_framework.routers import SimpleRouter

from . import views

app_name = "api"

router = SimpleRouter()
router.register("patients", views.PatientViewSet, basename="patient")
router.register("patient-identities", views.PatientIdentityViewSet, basename="patient-identity")
router.register(
    "clinical-assessments", views.ClinicalAssessmentViewSet, basename="clinical-assessment"
)
router.register("treatments", views.TreatmentViewSet, basename="treatment")
router.register("draws", views.SerumDrawViewSet, basename="draw")
router.register("aliquots", views.AliquotViewSet, basename="aliquot")
router.register("storage-events", views.StorageEventViewSet, basename="storage-event")
router.register("freezers", views.FreezerViewSet, basename="freezer")
router.register("racks", views.RackViewSet, basename="rack")
router.register("boxes", views.BoxViewSet, basename="box")
router.register("extraction-batches", views.ExtractionBatchViewSet, basename="extraction-batch")
router.register(
    "reverse-transcriptions", views.ReverseTranscriptionViewSet, basename="reverse-transcription"
)
router.register("assays", views.AssayViewSet, basename="assay")
router.register("plates", views.PlateViewSet, basename="plate")
router.register("wells", views.WellViewSet, basename="well")
router.register("follow-ups", views.FollowUpViewSet, basename="follow-up")
router.register("analysis-plans", views.AnalysisPlanViewSet, basename="analysis-plan")
router.register("analysis-runs", views.AnalysisRunViewSet, basename="analysis-run")

# Routes outside the router; the permission matrix test lists them too.
extra_urlpatterns = [
    path("export/cohort.csv", views.CohortExportCsvView.as_view(), name="export-cohort-csv"),
    path("export/cohort.json", views.CohortExportJsonView.as_view(), name="export-cohort-json"),
    path("auth/token/", views.TokenView.as_view(), name="token"),
]

urlpatterns = [
    path("v1/", include(router.urls + extra_urlpatterns)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path(
        "redoc/",
        SpectacularRedocView.as_view(url_name="api:schema", template_name="api/redoc.html"),
        name="redoc",
    ),
    re_path(r"^", views.api_not_found, name="not-found"),  # last: a JSON 404
]
