"""Shared pieces of the API tests: a client per role, one record of every kind (with a
planted identity), and every route the API serves, read from the router itself so a
new endpoint cannot escape the permission matrix."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from analysis.models import AnalysisPlan, AnalysisRun
from biobank.api.urls import extra_urlpatterns, router
from biobank.models import StorageEvent
from biobank.services.aliquots import Position, aliquots_create
from biobank.services.draws import serum_draw_register
from biobank.services.patients import (
    clinical_assessment_record,
    follow_up_record,
    patient_create,
    treatment_create,
)
from biobank.services.plates import plate_create, plate_layout
from biobank.services.processing import (
    exosome_isolation_batch_record,
    reverse_transcription_record,
    rna_isolation_record,
)
from tests.factories import BoxFactory, study_assays

ROLES = ("anonymous", "technician", "curator", "analyst")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

# A planted identity: none of these strings may reach anyone but a curator's
# identity endpoint.
PLANTED = {
    "full_name": "Zebulon Quixote-Planted",
    "hospital_number": "HN-PLANT-7731",
    "date_of_birth": dt.date(1931, 7, 19),
}
PHI_STRINGS = (
    "Zebulon",
    "Quixote",
    "HN-PLANT-7731",
    "PLANT-7731",
    "1931-07-19",
    "19/07/1931",
    "07/19/1931",
    "19.07.1931",
    "19 July 1931",
    "July 19, 1931",
)


def phi_found(text: str) -> list[str]:
    return [needle for needle in PHI_STRINGS if needle.lower() in text.lower()]


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def aware(year, month, day, hour=8) -> dt.datetime:
    return timezone.make_aware(dt.datetime(year, month, day, hour))


def build_world(user, *, study_id: str = "API-0001", identity=None) -> dict:
    """One record of every kind the API serves, made through the services, keyed by
    the router's basename."""
    patient = patient_create(
        study_id=study_id,
        sex="F",
        age_at_enrolment=71,
        liver_background="cirrhosis",
        etiology="HCV",
        type2_diabetes=False,
        consent_date=dt.date(2014, 1, 2),
        identity=identity or PLANTED,
    )
    treatment = treatment_create(
        patient=patient, performed_on=dt.date(2014, 1, 10), anticancer_agent="epirubicin"
    )
    assessment = clinical_assessment_record(
        patient=patient,
        treatment=treatment,
        assessed_on=dt.date(2014, 1, 9),
        total_bilirubin_mg_dl=1.0,
        albumin_g_dl=3.6,
        pt_percent=82,
        ascites="none",
        encephalopathy="none",
    )
    follow_up = follow_up_record(
        patient=patient, contact_date=dt.date(2014, 6, 1), status="alive", user=user
    )
    draw = serum_draw_register(
        treatment=treatment, timepoint="PRE", drawn_at=aware(2014, 1, 10), serum_volume_ul=1000
    )
    box = BoxFactory()
    aliquots = aliquots_create(
        draw=draw,
        volume_ul=250,
        user=user,
        positions=[Position(box, 1, column) for column in (1, 2, 3)],
    )
    batch = exosome_isolation_batch_record(
        code=f"EXO-{study_id}",
        performed_on=dt.date(2014, 2, 1),
        exoquick_lot="EQ-1",
        spike_in_lot="CEL-1",
        aliquots=[aliquots[2]],
        user=user,
    )
    rna = rna_isolation_record(
        isolation=batch.isolations.get(), kit_lot="MV-1", performed_on=dt.date(2014, 2, 2)
    )
    assays = study_assays()
    rt = reverse_transcription_record(
        code=f"RT-{study_id}",
        rna=rna,
        kit_lot="RT-1",
        performed_on=dt.date(2014, 2, 3),
        assays=assays,
    )
    plate = plate_create(barcode=f"QP-{study_id}", operator=user)
    wells = plate_layout(plate=plate, samples=[rt], assays=assays, replicates=3)
    plan = AnalysisPlan.objects.get(name="paper-default")
    run = AnalysisRun.objects.create(
        plan=plan, status=AnalysisRun.Status.FAILED, error="nothing to analyse", trigger="manual"
    )
    return {
        "patient": patient,
        "patient-identity": patient.identity,
        "clinical-assessment": assessment,
        "treatment": treatment,
        "draw": draw,
        "aliquot": aliquots[0],
        "storage-event": StorageEvent.objects.filter(aliquot=aliquots[0]).first(),
        "freezer": box.rack.freezer,
        "rack": box.rack,
        "box": box,
        "extraction-batch": batch,
        "reverse-transcription": rt,
        "assay": assays[0],
        "plate": plate,
        "well": wells[0],
        "follow-up": follow_up,
        "analysis-plan": plan,
        "analysis-run": run,
        # not routes, handy in tests
        "_aliquots": aliquots,
        "_wells": wells,
        "_assays": assays,
    }


@dataclass(frozen=True)
class Route:
    basename: str
    name: str  # 'list', 'detail', an action's url_name, or an extra route's name
    detail: bool
    methods: frozenset[str]  # the methods it serves (besides OPTIONS / HEAD)

    @property
    def key(self) -> str:
        return f"{self.basename}:{self.name}" if self.basename else self.name

    def url(self, world: dict) -> str:
        if not self.basename:
            return reverse(f"api:{self.name}")
        suffix = self.name
        if not self.detail:
            return reverse(f"api:{self.basename}-{suffix}")
        return reverse(f"api:{self.basename}-{suffix}", args=[world[self.basename].pk])


def all_routes() -> list[Route]:
    """Every route of /api/v1/, from the router's registry and the extra patterns."""
    routes = []
    for _prefix, viewset, basename in router.registry:
        list_methods = {m for m, a in (("GET", "list"), ("POST", "create")) if hasattr(viewset, a)}
        detail_methods = {
            m
            for m, a in (
                ("GET", "retrieve"),
                ("PUT", "update"),
                ("PATCH", "partial_update"),
                ("DELETE", "destroy"),
            )
            if hasattr(viewset, a)
        }
        if list_methods:
            routes.append(Route(basename, "list", False, frozenset(list_methods)))
        if detail_methods:
            routes.append(Route(basename, "detail", True, frozenset(detail_methods)))
        for extra in viewset.get_extra_actions():
            methods = frozenset(m.upper() for m in extra.mapping)
            routes.append(Route(basename, extra.url_name, extra.detail, methods))
    for pattern in extra_urlpatterns:
        view = pattern.callback.view_class
        methods = frozenset(
            m.upper() for m in ("get", "post", "put", "patch", "delete") if hasattr(view, m)
        )
        routes.append(Route("", pattern.name, False, methods))
    return routes
