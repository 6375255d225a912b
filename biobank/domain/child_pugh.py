"""Child-Pugh score and grade from the five bedside measures.

Pure functions so that the model, the services, the seed and the analysis all
derive the grade the same way. The prothrombin criterion uses PT activity in
per cent, as Japanese centres (and the study) report it, instead of INR.
"""

from __future__ import annotations

from dataclasses import dataclass

ASCITES_POINTS = {"none": 1, "slight": 2, "moderate": 3}
ENCEPHALOPATHY_POINTS = {"none": 1, "grade_1_2": 2, "grade_3_4": 3}


@dataclass(frozen=True)
class ChildPugh:
    score: int
    grade: str


def bilirubin_points(total_bilirubin_mg_dl: float) -> int:
    if total_bilirubin_mg_dl < 2:
        return 1
    return 2 if total_bilirubin_mg_dl <= 3 else 3


def albumin_points(albumin_g_dl: float) -> int:
    if albumin_g_dl > 3.5:
        return 1
    return 2 if albumin_g_dl >= 2.8 else 3


def prothrombin_points(pt_percent: float) -> int:
    if pt_percent > 70:
        return 1
    return 2 if pt_percent >= 40 else 3


def grade_for_score(score: int) -> str:
    if score <= 6:
        return "A"
    return "B" if score <= 9 else "C"


def child_pugh(
    *,
    total_bilirubin_mg_dl: float | None,
    albumin_g_dl: float | None,
    pt_percent: float | None,
    ascites: str | None,
    encephalopathy: str | None,
) -> ChildPugh | None:
    """The score (5-15) and grade (A 5-6, B 7-9, C 10-15), or None when a measure is missing."""
    measures = (total_bilirubin_mg_dl, albumin_g_dl, pt_percent, ascites, encephalopathy)
    if any(value is None or value == "" for value in measures):
        return None
    score = (
        bilirubin_points(float(total_bilirubin_mg_dl))
        + albumin_points(float(albumin_g_dl))
        + prothrombin_points(float(pt_percent))
        + ASCITES_POINTS[ascites]
        + ENCEPHALOPATHY_POINTS[encephalopathy]
    )
    return ChildPugh(score=score, grade=grade_for_score(score))
