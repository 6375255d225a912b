"""Small pieces the services share."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models


def full_clean_or_raise(instance: models.Model, *, exclude: list[str] | None = None) -> None:
    """Validate a model instance with Django's field validators and constraints.

    Raises ValidationError keyed by field name, so every face can show the
    message next to the field.
    """
    instance.full_clean(exclude=exclude)


def save_validated(instance: models.Model, *, exclude: list[str] | None = None) -> models.Model:
    """full_clean() then save(); a constraint that only the database sees (a race
    lost between validation and insert) still comes back as a ValidationError."""
    full_clean_or_raise(instance, exclude=exclude)
    try:
        instance.save()
    except IntegrityError as error:
        raise ValidationError(
            f"{instance._meta.verbose_name} could not be saved: {error}"
        ) from error
    return instance
