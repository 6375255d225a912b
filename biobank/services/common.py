"""Small pieces the services share."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models

from .constraints import as_validation_error, humanise
from .dates import check_dates


def full_clean_or_raise(instance: models.Model, *, exclude: list[str] | None = None) -> None:
    """Validate a model instance with Django's field validators and constraints, and
    the date rules (services/dates.py: nothing in the future, nothing before birth).

    Raises ValidationError keyed by field name, so every face can show the
    message next to the field.
    """
    errors: dict = {}
    try:
        instance.full_clean(exclude=exclude)
    except ValidationError as error:
        errors = humanise(error).update_error_dict(errors)
    try:
        check_dates(instance)
    except ValidationError as error:
        for field, messages in error.update_error_dict({}).items():
            errors.setdefault(field, messages)  # a field's own error first, once
    if errors:
        raise ValidationError(errors)


def save_validated(instance: models.Model, *, exclude: list[str] | None = None) -> models.Model:
    """full_clean() then save(); a constraint that only the database sees (a race
    lost between validation and insert) still comes back as a ValidationError, on
    the constraint's field and without the database's text (services/constraints.py)."""
    full_clean_or_raise(instance, exclude=exclude)
    try:
        instance.save()
    except IntegrityError as error:
        raise as_validation_error(error) from error
    return instance
