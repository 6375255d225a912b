"""Putting a service's ValidationError back on the form, field by field."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError


def add_service_errors(
    form: forms.Form, error: ValidationError, *, fields: dict[str, str] | None = None
) -> None:
    """Show each message of `error` beside the form field it is about.

    Services key their messages by model or argument name ('position', 'volume_ul');
    `fields` renames those to the form's field names where they differ. Messages for
    no field of the form (or a plain, unkeyed error) go to the top of the form.
    """
    renames = fields or {}
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for key, messages in error.message_dict.items():
        name = renames.get(key, key)
        form.add_error(name if name in form.fields else None, messages)
