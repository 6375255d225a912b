"""The sample chain's models, one module per part of the chain."""

from .cohort_cache import CohortSnapshot, CohortSnapshotChunk, CohortVersion
from .patients import ClinicalAssessment, FollowUp, Patient, PatientIdentity, Treatment
from .processing import ExosomeIsolation, ExosomeIsolationBatch, ReverseTranscription, RnaIsolation
from .qpcr import Assay, AssayEfficiency, PlateImport, QpcrPlate, Well, WellImportChange
from .samples import Aliquot, SerumDraw
from .storage import (
    Box,
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
    "CohortSnapshot",
    "CohortSnapshotChunk",
    "CohortVersion",
    "ExosomeIsolation",
    "ExosomeIsolationBatch",
    "FollowUp",
    "Freezer",
    "Patient",
    "PlateImport",
    "PositionReservation",
    "PatientIdentity",
    "QpcrPlate",
    "Rack",
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
