"""What makes the admin a face like the web pages and the API.

Two rules, held here for every ModelAdmin:

1. Only curators (or a superuser) write in the admin. Technicians keep the model
   permissions the bench needs (draws, aliquots, plates, wells, imports), and the
   bench reaches them through the services; in the admin they read. Without this,
   the same permission that lets a technician exclude a well on the QC page would
   let them set its Cq in the admin.
2. A write goes through its service. `ServiceForm.run_service()` calls the service;
   the form runs it once during validation inside a savepoint that is rolled back,
   so a refused rule comes back as an error on its field and nothing is kept, and
   `ServiceAdmin.save_model` runs it for real. Fields no service writes are
   read-only (`readonly_fields`); inlines cannot write.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from simple_history.admin import SimpleHistoryAdmin

from biobank.roles import CURATOR


def writes_in_admin(user) -> bool:
    """Curator group or superuser; cached on the user object for the request."""
    cached = getattr(user, "_exotrack_admin_writer", None)
    if cached is None:
        cached = bool(
            user.is_authenticated
            and user.is_active
            and (user.is_superuser or user.groups.filter(name=CURATOR).exists())
        )
        user._exotrack_admin_writer = cached
    return cached


class CuratorWritesMixin:
    """Add, change and delete in the admin for curators only (rule 1 above); reading
    still follows the model's view permission."""

    def has_add_permission(self, request, *args):
        return writes_in_admin(request.user) and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return writes_in_admin(request.user) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return writes_in_admin(request.user) and super().has_delete_permission(request, obj)


class ServiceForm(forms.ModelForm):
    """A ModelForm whose save is a service call.

    Subclasses implement `run_service()` from `self.cleaned_data`, `self.stored()`
    (the row as the database has it, for a change) and `self.user` (bound by
    ServiceAdmin.get_form). `service_error_fields` maps the keys of the service's
    ValidationError to this form's fields where they differ."""

    user = None
    service_error_fields: dict[str, str] = {}

    def run_service(self) -> models.Model:
        raise NotImplementedError

    def stored(self):
        """The object as stored: the form's instance carries the typed values."""
        return type(self.instance)._default_manager.get(pk=self.instance.pk)

    def changed(self, *names: str) -> dict:
        """The cleaned values of those of `names` the user changed."""
        return {
            name: self.cleaned_data[name]
            for name in names
            if name in self.cleaned_data and name in self.changed_data
        }

    def _post_clean(self):
        super()._post_clean()
        if self.errors:
            return
        try:
            with transaction.atomic():
                self.run_service()
                # A rehearsal: the admin saves for real in save_model.
                transaction.set_rollback(True)
        except ValidationError as error:
            self._add_service_error(error)

    def _add_service_error(self, error: ValidationError) -> None:
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for key, messages in error.message_dict.items():
            field = self.service_error_fields.get(key, key)
            if field in self.fields and field in self.cleaned_data:
                self.add_error(field, messages)
            else:
                label = "" if key == "__all__" else f"{key}: "
                self.add_error(None, [f"{label}{message}" for message in messages])


class ServiceAdmin(CuratorWritesMixin, SimpleHistoryAdmin):
    """Writes through `form` (a ServiceForm) and `delete_service`; without a
    delete service the admin does not delete. Bulk delete is off: each deletion
    is checked on its own page, so a refused one is a 403, not half a batch."""

    form = ServiceForm
    delete_service = None

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"user": request.user})

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request, obj=None):
        if self.delete_service is None:
            return False
        allowed = super().has_delete_permission(request, obj)
        if allowed and obj is not None:
            # Ask the service, in a savepoint rolled back, so the delete page is a
            # 403 when the rule refuses instead of a failure after confirming.
            try:
                with transaction.atomic():
                    # A copy: delete() clears the pk of the object it is given, and the
                    # admin still needs `obj` to render its page.
                    self.delete_service(type(obj)._default_manager.get(pk=obj.pk))
                    transaction.set_rollback(True)
            except ValidationError:
                return False
        return allowed

    def save_model(self, request, obj, form, change):
        if not isinstance(form, ServiceForm):
            raise PermissionDenied("This admin writes through its service form only")
        saved = form.run_service()
        for field in saved._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))

    def save_related(self, request, form, formsets, change):
        """The service wrote what there is to write; an inline cannot add to it."""
        if any(formset.has_changed() for formset in formsets):
            raise PermissionDenied("Related rows are written through their own services")
        for formset in formsets:
            # What formset.save() would have set; the change message reads them.
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def delete_model(self, request, obj):
        self.delete_service(obj)


def service_delete(function, keyword: str):
    """`delete_service` for a ServiceAdmin: calls `function(<keyword>=obj)`."""

    def delete(obj):
        function(**{keyword: obj})

    return staticmethod(delete)


class ReadOnlyAdmin(CuratorWritesMixin, SimpleHistoryAdmin):
    """Records the bench services write (processing steps): read here, never written."""

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


__all__ = [
    "CuratorWritesMixin",
    "ReadOnlyAdmin",
    "ServiceAdmin",
    "ServiceForm",
    "service_delete",
    "writes_in_admin",
]
