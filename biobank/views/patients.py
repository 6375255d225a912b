"""A patient's page: everything drawn from them and what became of it (issue 15)."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render

from biobank.selectors.patients import patient_by_study_id, patient_record

from .access import may_see_identities, needs


@needs("biobank.view_patient", "biobank.view_aliquot")
def patient_detail(request, study_id: str):
    patient = patient_by_study_id(study_id)
    if patient is None:
        raise Http404("No such patient")
    record = patient_record(patient, include_identity=may_see_identities(request.user))
    return render(request, "web/patient_detail.html", {"record": record, "patient": patient})
