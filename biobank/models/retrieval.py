"""Retrieval requests: tubes asked for a purpose, decided by a curator, picked from the
freezers and returned; and the legal holds that keep a patient's or a tube's serum
from leaving."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class RetrievalRequest(models.Model):
    """Tubes someone wants out of the freezers, and why.

    The tubes are fixed when the request is made (a criteria request is resolved then,
    and the criteria kept in `criteria` as asked); the curator's decision keeps only
    the eligible ones, each with the verdict written on its item.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SUBMITTED = "submitted", "Submitted"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        FULFILLED = "fulfilled", "Fulfilled"
        CANCELLED = "cancelled", "Cancelled"

    code = models.CharField(max_length=32, unique=True)
    purpose = models.CharField(max_length=300)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    min_volume_ul = models.DecimalField(
        max_digits=8,
        decimal_places=1,
        default=0,
        help_text="µl each tube must still hold to be eligible",
    )
    criteria = models.JSONField(
        default=dict, blank=True, help_text="What was asked (barcodes or patients, timepoint)"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        permissions = [("decide_retrievalrequest", "Can approve or reject a retrieval request")]
        constraints = [
            models.CheckConstraint(
                condition=Q(min_volume_ul__gte=0), name="request_min_volume_not_negative"
            ),
            # A decided request names who decided and when; an undecided one names no one.
            models.CheckConstraint(
                condition=(
                    Q(status__in=["draft", "submitted"], decided_by__isnull=True)
                    | (
                        ~Q(status__in=["draft", "submitted"])
                        & Q(decided_by__isnull=False, decided_at__isnull=False)
                    )
                ),
                name="request_decided_iff_decided",
            ),
            models.CheckConstraint(
                condition=~Q(status="rejected") | ~Q(decision_note=""),
                name="request_rejection_says_why",
            ),
        ]

    def __str__(self):
        return f"{self.code} ({self.get_status_display().lower()})"

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.DRAFT, self.Status.SUBMITTED, self.Status.APPROVED)


class RetrievalItem(models.Model):
    """One tube of a request, with the eligibility verdict stored at the decision."""

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        APPROVED = "approved", "Approved"
        REFUSED = "refused", "Refused"
        OUT = "out", "Checked out"
        RETURNED = "returned", "Returned"
        CONSUMED = "consumed", "Consumed"

    request = models.ForeignKey(RetrievalRequest, on_delete=models.CASCADE, related_name="items")
    aliquot = models.ForeignKey(
        "biobank.Aliquot", on_delete=models.PROTECT, related_name="retrieval_items"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.REQUESTED)
    eligible = models.BooleanField(null=True, help_text="The verdict at the decision")
    reasons = models.JSONField(default=list, blank=True, help_text="Why not eligible")

    class Meta:
        ordering = ["request_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["request", "aliquot"], name="one_item_per_tube"),
            models.CheckConstraint(
                condition=~Q(status="refused") | Q(eligible=False),
                name="refused_item_is_ineligible",
            ),
        ]

    def __str__(self):
        return f"{self.request.code}: {self.aliquot}"


class LegalHold(models.Model):
    """Serum that may not leave its box: a tube's, or every tube of a patient's.

    A curator places it with a reason and releases it (never deletes it: the hold and
    its release stay on record)."""

    patient = models.ForeignKey(
        "biobank.Patient", on_delete=models.PROTECT, null=True, blank=True, related_name="holds"
    )
    aliquot = models.ForeignKey(
        "biobank.Aliquot", on_delete=models.PROTECT, null=True, blank=True, related_name="holds"
    )
    reason = models.CharField(max_length=300)
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    placed_at = models.DateTimeField()
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-placed_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(patient__isnull=True, aliquot__isnull=False)
                | Q(patient__isnull=False, aliquot__isnull=True),
                name="hold_on_patient_xor_tube",
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="hold_says_why"),
            models.CheckConstraint(
                condition=Q(released_at__isnull=True, released_by__isnull=True)
                | Q(released_at__isnull=False, released_by__isnull=False),
                name="hold_release_names_who",
            ),
        ]

    def __str__(self):
        what = f"patient {self.patient}" if self.patient_id else f"aliquot {self.aliquot}"
        return f"Legal hold on {what}" + (" (released)" if self.released_at else "")
