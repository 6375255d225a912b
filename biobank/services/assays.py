"""The TaqMan assays a plate can be laid out with."""

from __future__ import annotations

from django.db import transaction

from biobank.models import Assay

from .common import save_validated


@transaction.atomic
def assay_create(*, target: str, role: str, vendor: str = "", vendor_assay_id: str = "") -> Assay:
    """Add an assay. There is no update: wells, RT products and analyses name an assay
    by its target, so renaming one would rewrite every result measured with it."""
    assay = Assay(target=target.strip(), role=role, vendor_assay_id=vendor_assay_id.strip())
    if vendor.strip():
        assay.vendor = vendor.strip()
    return save_validated(assay)
