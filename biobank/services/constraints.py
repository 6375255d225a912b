"""A broken database constraint, told as a field and a sentence.

Two things used to reach the user verbatim: the database's own text of an
IntegrityError (PostgreSQL's "new row for relation … violates check constraint …
DETAIL: Failing row contains (…)", which echoes the row's values) and Django's
"Constraint “draw_frozen_after_centrifuged” is violated." from full_clean(). Both
now become {field: [message]}: the field is the one the constraint is about (the
one the user typed), the message says the rule, and neither the constraint's name
nor any stored value is shown.

The constraints are read from the models, so one added later still maps to its
field; MESSAGES gives the known ones a sentence of their own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from django.apps import apps
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, models
from django.db.models import F, Q

# name -> (field, message); the field is the one the user typed.
MESSAGES: dict[str, tuple[str, str]] = {
    "patient_age_plausible": ("age_at_enrolment", "The age at enrolment must be 18 to 110"),
    "patient_withdrawal_after_consent": (
        "withdrawn_on",
        "The withdrawal cannot precede the consent",
    ),
    "one_initial_treatment": ("is_initial", "The patient already has an initial treatment"),
    "followup_cause_iff_dead": (
        "cause_of_death",
        "A death needs its cause, and only a death has one",
    ),
    "one_followup_per_day": ("contact_date", "A contact is already recorded on that day"),
    "one_draw_per_timepoint": ("timepoint", "This TACE already has a draw at that timepoint"),
    "draw_centrifuged_after_drawn": ("centrifuged_at", "Centrifugation cannot precede the draw"),
    "draw_frozen_after_centrifuged": ("frozen_at", "Freezing cannot precede centrifugation"),
    "draw_volume_not_negative": ("serum_volume_ul", "The serum volume cannot be negative"),
    "draw_a414_not_negative": ("a414", "A414 cannot be negative"),
    "aliquot_volume_not_negative": ("volume_ul", "The volume cannot be negative"),
    "aliquot_volume_within_initial": (
        "volume_ul",
        "The volume cannot exceed the aliquot's initial volume",
    ),
    "one_aliquot_per_position": ("position", "That position is already taken"),
    "aliquot_position_iff_stored": (
        "position",
        "A stored aliquot needs a full position, and only a stored one has one",
    ),
    "aliquot_position_one_based": ("position", "Rows and columns start at 1"),
    "rack_name_per_freezer": ("name", "This freezer already has a rack of that name"),
    "box_name_per_rack": ("name", "This rack already has a box of that name"),
    "excursion_ends_after_start": ("ended_at", "The excursion cannot end before it starts"),
    "plate_format_known": ("plate_format", "A plate has 96 or 384 wells"),
    "one_assay_per_well_position": ("position", "That well already reads this assay"),
    "well_sample_unless_ntc": (
        "sample",
        "A well holds a sample unless it is an NTC or a standard",
    ),
    "well_quantity_of_a_standard": (
        "quantity",
        "Only a standard well has a quantity, and it must be above 0",
    ),
    "well_cq_plausible": ("cq", "A Cq must be above 0 and below 60"),
    "well_position_on_a_plate": ("position", "That position is not on the plate"),
    "well_decision_has_reason": ("exclusion_reason", "Give the reason for the decision"),
    "export_live_once": ("file", "This file was already imported"),
    "import_revert_has_reason": ("revert_reason", "Give the reason for the revert"),
    "import_replacement_has_reason": ("replace_reason", "Give the reason for the replacement"),
    "one_change_per_well": ("well", "A well changes once per import"),
    "aliquot_once_per_batch": ("aliquots", "An aliquot is in this batch twice"),
    "isolation_volume_positive": ("serum_volume_ul", "The serum volume must be above 0"),
    "efficiency_plausible": ("value", "An efficiency is a fraction above 0 and at most 1.5"),
    "efficiency_se_not_negative": ("se", "A standard error cannot be negative"),
    "efficiency_method_known": ("method", "Choose default, run, pooled or declared"),
}

GENERIC = "The change conflicts with data saved meanwhile; reload and try again"


@dataclass(frozen=True)
class Broken:
    field: str  # a model field name, or NON_FIELD_ERRORS
    message: str
    unique: bool  # a duplicate (a conflict with another row), not a bad value


def _condition_fields(node) -> list[str]:
    """The model fields a Q condition reads, in order (lookups and F() both)."""
    found: list[str] = []
    children = node.children if isinstance(node, Q) else [node]
    for child in children:
        if isinstance(child, Q):
            found += _condition_fields(child)
        elif isinstance(child, tuple):
            found.append(child[0].split("__")[0])
            if isinstance(child[1], F):
                found.append(child[1].name.split("__")[0])
    return list(dict.fromkeys(found))


@cache
def _constraints() -> dict[str, tuple[type[models.Model], models.BaseConstraint]]:
    return {
        constraint.name: (model, constraint)
        for model in apps.get_models()
        for constraint in model._meta.constraints
    }


def _label(model: type[models.Model], field: str) -> str:
    try:
        return str(model._meta.get_field(field).verbose_name)
    except Exception:  # noqa: BLE001 - a name that is no field: say it as it is
        return field.replace("_", " ")


def describe(name: str) -> Broken | None:
    """What the constraint `name` is about, or None for a name no model declares."""
    found = _constraints().get(name)
    if found is None:
        return None
    model, constraint = found
    unique = isinstance(constraint, models.UniqueConstraint)
    if name in MESSAGES:
        field, message = MESSAGES[name]
        return Broken(field, message, unique)
    if unique:
        fields = list(constraint.fields)
        labels = " and ".join(_label(model, f) for f in fields)
        what = model._meta.verbose_name
        return Broken(
            fields[-1] if fields else NON_FIELD_ERRORS,
            f"A {what} with this {labels} already exists",
            True,
        )
    condition = getattr(constraint, "condition", None)
    fields = _condition_fields(condition) if condition is not None else []
    field = fields[0] if fields else NON_FIELD_ERRORS
    label = _label(model, field) if fields else model._meta.verbose_name
    return Broken(field, f"This {label} is not allowed here", False)


def _model_of_table(table: str) -> type[models.Model] | None:
    for model in apps.get_models():
        if model._meta.db_table == table:
            return model
    return None


def _unique_columns(model: type[models.Model], columns: list[str]) -> Broken | None:
    """A duplicate on unique columns (a field's unique=True, or a UniqueConstraint)."""
    fields = []
    for column in columns:
        match = [f for f in model._meta.concrete_fields if f.column == column]
        fields.append(match[0].name if match else column)
    for constraint in model._meta.constraints:
        if isinstance(constraint, models.UniqueConstraint) and set(constraint.fields) == set(
            fields
        ):
            return describe(constraint.name)
    labels = " and ".join(_label(model, f) for f in fields)
    return Broken(
        fields[-1], f"A {model._meta.verbose_name} with this {labels} already exists", True
    )


def broken_constraint(error: IntegrityError) -> Broken | None:
    """The constraint an IntegrityError broke, as a field and a message; None when it
    cannot be told (the caller says something generic then)."""
    cause = error.__cause__
    diag = getattr(cause, "diag", None)
    if diag is not None:  # PostgreSQL (psycopg)
        name = diag.constraint_name
        described = describe(name) if name else None
        if described is not None:
            return described
        detail = diag.message_detail or ""
        model = _model_of_table(diag.table_name or "")
        key = re.match(r"Key \(([^)]*)\)=", detail)
        if model is not None and key:
            return _unique_columns(model, [c.strip() for c in key.group(1).split(",")])
        if model is not None and diag.column_name:  # NOT NULL
            field = next(
                (f.name for f in model._meta.concrete_fields if f.column == diag.column_name),
                diag.column_name,
            )
            return Broken(field, "This field is required", False)
        return None
    text = str(error)  # SQLite
    check = re.match(r"CHECK constraint failed: (\w+)", text)
    if check:
        return describe(check.group(1))
    unique = re.match(r"UNIQUE constraint failed: (.+)", text)
    if unique:
        pairs = [item.strip().split(".", 1) for item in unique.group(1).split(",")]
        if pairs and all(len(pair) == 2 for pair in pairs):
            model = _model_of_table(pairs[0][0])
            if model is not None:
                return _unique_columns(model, [column for _, column in pairs])
    index = re.match(r"UNIQUE constraint failed: index '(\w+)'", text)
    if index:
        return describe(index.group(1))
    return None


def integrity_error_detail(error: IntegrityError) -> tuple[dict[str, list[str]], bool]:
    """({field: [message]}, unique) for an IntegrityError; the generic message under
    NON_FIELD_ERRORS, taken as a conflict, when the constraint cannot be told."""
    broken = broken_constraint(error)
    if broken is None:
        return {NON_FIELD_ERRORS: [GENERIC]}, True
    return {broken.field: [broken.message]}, broken.unique


def as_validation_error(error: IntegrityError, *, field: str | None = None) -> ValidationError:
    """A ValidationError in place of an IntegrityError, keyed by the constraint's field
    (or `field`, when the caller knows which of its own arguments it was about)."""
    detail, _ = integrity_error_detail(error)
    if field is not None:
        detail = {field: [message for messages in detail.values() for message in messages]}
    return ValidationError(detail)


_DJANGO_DEFAULT = re.compile(r"^Constraint “(?P<name>[^”]+)” is violated\.$")


def humanise(error: ValidationError) -> ValidationError:
    """full_clean()'s "Constraint “name” is violated." moved to its field, in words."""
    if not hasattr(error, "error_dict"):
        return error
    errors: dict[str, list] = {}
    for field, messages in error.error_dict.items():
        for item in messages:
            text = " ".join(item.messages)
            match = _DJANGO_DEFAULT.match(text)
            broken = describe(match.group("name")) if match else None
            if broken is None:
                errors.setdefault(field, []).append(item)
            else:
                errors.setdefault(broken.field, []).append(ValidationError(broken.message))
    return ValidationError(errors)
