"""Fixtures for the technicians' pages: logged-in clients, a box, a draw, a plate."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from biobank.services.plates import plate_create, plate_layout

from ..factories import (
    BoxFactory,
    PatientFactory,
    ReverseTranscriptionFactory,
    SerumDrawFactory,
    TreatmentFactory,
    study_assays,
)


@pytest.fixture(autouse=True)
def scratch_media(settings, tmp_path):
    """Uploads and raw exports land in a temporary MEDIA_ROOT, never the repository's."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def tech_client(technician):
    client = Client()
    client.force_login(technician)
    return client


@pytest.fixture
def curator_client(curator):
    client = Client()
    client.force_login(curator)
    return client


@pytest.fixture
def analyst_client(analyst):
    client = Client()
    client.force_login(analyst)
    return client


@pytest.fixture
def box(db):
    return BoxFactory(barcode="BOX-1", name="Box 1", rows=3, columns=4)


@pytest.fixture
def treatment(db):
    return TreatmentFactory(patient=PatientFactory(study_id="P-001"))


@pytest.fixture
def draw(treatment):
    return SerumDrawFactory(treatment=treatment, serum_volume_ul=1000)


@pytest.fixture
def assays(db):
    return study_assays()


@pytest.fixture
def laid_out_plate(assays, technician):
    """A 96-well plate with 2 RT products x 3 assays in triplicate and 3 NTCs."""
    plate = plate_create(barcode="PL-W1", operator=technician)
    samples = [ReverseTranscriptionFactory(code=f"RT-{n}") for n in (1, 2)]
    plate_layout(plate=plate, samples=samples, assays=assays, replicates=3)
    return plate


def aware(*args) -> dt.datetime:
    return timezone.make_aware(dt.datetime(*args))


def field_errors(response, field: str) -> list[str]:
    """The messages the page shows beside `field` (None: at the top of the form)."""
    form = response.context["form"]
    return form.errors.get(field or "__all__", [])


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def text(response) -> str:
    """The page's text with tags and runs of white space collapsed, for `in` checks."""
    html = response.content.decode()
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# Cq per position for `imported_plate`: A3 is an outlier of its triplicate, RT-2's miR-21
# (B1-B3) keeps one determined replicate, and the miR-122 NTC (B7) amplifies.
SPECIAL_CQ = {"A3": "25.00", "B2": "", "B3": "", "B7": "33.10"}


@pytest.fixture
def imported_plate(laid_out_plate, technician):
    from biobank.services.plate_import import plate_import_confirm

    from ..test_plates import lc480_export

    rows = [
        (
            well.position,
            well.sample.code if well.sample_id else "NTC",
            SPECIAL_CQ.get(
                well.position, "" if well.kind == "ntc" else f"{20 + well.column / 100:.2f}"
            ),
        )
        for well in laid_out_plate.wells.select_related("sample").order_by("row", "column")
    ]
    plate_import_confirm(
        plate=laid_out_plate, data=lc480_export(rows), filename="run.txt", user=technician
    )
    laid_out_plate.refresh_from_db()
    return laid_out_plate
