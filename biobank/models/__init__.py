"""The sample chain's models, one module per part of the chain."""

from .cohort_cache import CohortChange, CohortSnapshot, CohortSnapshotChunk, CohortVersion
from .patients import ClinicalAssessment, FollowUp, Patient, PatientIdentity, Treatment
from .processing import ExosomeIsolation, ExosomeIsolationBatch, ReverseTranscription, RnaIsolation
from .qpcr import Assay, AssayEfficiency, PlateImport, QpcrPlate, Well, WellImportChange
from .rack_scans import RackScanImport
from .retrieval import LegalHold, RetrievalItem, RetrievalRequest
from .samples import Aliquot, SerumDraw
from .storage import (
    Box,
    ExcursionExposure,
    Freezer,
    PositionReservation,
    Rack,
    StorageEvent,
    TemperatureExcursion,
    position_label,
)

__all__ = [
    "Aliquot",
    "Assay",
    "AssayEfficiency",
    "Box",
    "ClinicalAssessment",
    "CohortChange",
    "ExcursionExposure",
    "CohortSnapshot",
    "CohortSnapshotChunk",
    "CohortVersion",
    "ExosomeIsolation",
    "ExosomeIsolationBatch",
    "FollowUp",
    "LegalHold",
    "Freezer",
    "Patient",
    "PlateImport",
    "PositionReservation",
    "PatientIdentity",
    "QpcrPlate",
    "Rack",
    "RackScanImport",
    "RetrievalItem",
    "RetrievalRequest",
    "ReverseTranscription",
    "RnaIsolation",
    "SerumDraw",
    "StorageEvent",
    "TemperatureExcursion",
    "Treatment",
    "Well",
    "WellImportChange",
    "position_label",
]
