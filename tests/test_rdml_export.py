"""RDML export: valid RDML 1.3 (rdmlpython's schema validation, no errors) that ExoTrack's
own RDML importer reads back with the same Cq, target, sample and exclusion in every well."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rdmlpython import Rdml
from rest_framework.test import APIClient

from biobank.instruments import parse_export
from biobank.instruments.base import EXCLUDED_IN_FILE, UNDETERMINED
from biobank.instruments.rdml_export import (
    RdmlDocument,
    RdmlExportError,
    RdmlReading,
    RdmlRun,
    RdmlSample,
    RdmlTarget,
    rdml_xml,
)
from biobank.models import Well
from biobank.selectors.rdml_export import (
    plate_rdml,
    plates_rdml,
    rdml_unit,
    sample_id,
    study_plates,
)
from biobank.services.plate_import import plate_import_preview
from biobank.services.plates import plate_create, plate_layout, plate_place, well_exclude

from .factories import ReverseTranscriptionFactory, study_assays


def rdml_errors(archive: bytes) -> list[str]:
    """rdmlpython's validation report, keeping only the lines that say False."""
    with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
        assert zipped.namelist() == ["rdml_data.xml"]
        xml = zipped.read("rdml_data.xml").decode()
    document = Rdml()
    document.loadXMLString(xml)
    report = document.validate()
    assert "Schema validation result:\tTrue" in report or "\tFalse\t" in report, report
    return [line for line in report.splitlines() if "\tFalse\t" in line]


def wells_of(plate) -> dict[tuple[str, str], Well]:
    return {(w.position, w.assay.target): w for w in plate.wells.select_related("assay")}


@pytest.fixture
def assays(db):
    return study_assays()


@pytest.fixture
def plate(assays, curator):
    """Triplicates with Cq, a multiplex IRC, a calibrator, NTCs, an undetermined well,
    an excluded well and a well a curator decided to keep."""
    plate = plate_create(barcode="PL-RDML", plate_format=384)
    rts = [ReverseTranscriptionFactory(code=f"RT-R{n}") for n in (1, 2)]
    plate_layout(plate=plate, samples=rts, assays=assays[:2], replicates=3)
    irc = ReverseTranscriptionFactory(code="RT-IRC")
    plate_place(plate=plate, positions=["P1", "P2"], assays=assays, kind="irc", sample=irc)
    plate_place(plate=plate, positions=["P3"], assays=assays[2:], kind="calibrator", sample=irc)
    plate_place(plate=plate, positions=["P24"], assays=assays, kind="ntc")
    wells = list(plate.wells.order_by("row", "column", "assay_id"))
    for n, well in enumerate(wells):
        # awkward doubles on purpose: the round trip must keep every bit
        well.cq = None if well.kind == "ntc" or n == 5 else 20 + n / 7 + 1e-9
        well.save(update_fields=["cq"])
    well_exclude(well=wells[1], user=curator, reason="bubble in well, <see photo> & log")
    wells[2].excluded, wells[2].exclusion_reason = False, "checked the curve"
    wells[2].save()
    plate.run_at = datetime(2026, 11, 3, 14, 5, tzinfo=UTC)
    plate.save()
    return plate


class TestRoundTrip:
    def test_rdmlpython_validates_the_plate_without_errors(self, plate):
        assert rdml_errors(plate_rdml(plate)) == []

    def test_the_importer_reads_back_every_well_cq_and_exclusion(self, plate):
        parsed = parse_export(plate_rdml(plate))
        stored = wells_of(plate)
        assert parsed.format == "rdml"
        assert parsed.plate_size == 384
        read = {(w.position, w.target): w for w in parsed.wells}
        assert read.keys() == stored.keys()
        for key, well in stored.items():
            reading = read[key]
            assert reading.cq == well.cq, key  # exact: repr() of the double
            assert reading.sample_name == sample_id(well)
            assert (EXCLUDED_IN_FILE in reading.flags) == bool(well.excluded), key
            assert (UNDETERMINED in reading.flags) == (well.cq is None), key
            assert reading.run == "PL-RDML"
        assert sum(EXCLUDED_IN_FILE in w.flags for w in parsed.wells) == 1
        undetermined = sum(w.cq is None for w in stored.values())
        assert sum(w.cq is None for w in parsed.wells) == undetermined > 1

    def test_a_study_export_holds_every_plate_as_a_run(self, plate, assays):
        other = plate_create(barcode="PL-RDML-2")
        plate_layout(
            plate=other, samples=[ReverseTranscriptionFactory(code="RT-R9")], assays=assays[:1]
        )
        other.wells.update(cq=31.25)
        plates = study_plates()
        assert [p.barcode for p in plates] == ["PL-RDML", "PL-RDML-2"]
        archive = plates_rdml(plates, experiment_id="study", serial="study")
        assert rdml_errors(archive) == []
        parsed = parse_export(archive)
        by_run = {}
        for reading in parsed.wells:
            by_run.setdefault(reading.run, {})[(reading.position, reading.target)] = reading.cq
        for each in plates:
            assert by_run[each.barcode] == {k: w.cq for k, w in wells_of(each).items()}

    def test_samples_carry_their_chain_and_roles(self, plate):
        archive = plate_rdml(plate)
        xml = zipfile.ZipFile(io.BytesIO(archive)).read("rdml_data.xml").decode()
        document = Rdml()
        document.loadXMLString(xml)
        assert 'version="1.3"' in xml
        assert "<interRunCalibrator>true</interRunCalibrator>" in xml
        assert "<calibratorSample>true</calibratorSample>" in xml
        assert '<sample id="NTC">' in xml and "<type>ntc</type>" in xml
        assert "<property>Spike-in lot</property>" in xml
        assert "<type>ref</type>" in xml  # the spike-in normalises
        assert "&lt;see photo&gt; &amp; log" in xml  # reasons escaped, kept whole
        assert "<runDate>2026-11-03T14:05:00</runDate>" in xml

    def test_queries_do_not_grow_with_the_plates(self, plate, assays):
        """One query for every well with its chain (plus one for the chosen efficiencies
        once that model exists), however many plates."""
        with CaptureQueriesContext(connection) as one:
            plates_rdml([plate], experiment_id="x", serial="x")
        other = plate_create(barcode="PL-RDML-3")
        plate_layout(
            plate=other, samples=[ReverseTranscriptionFactory(code="RT-R8")], assays=assays
        )
        with CaptureQueriesContext(connection) as two:
            plates_rdml([plate, other], experiment_id="x", serial="x")
        assert len(two) == len(one) <= 2


class TestWriterRefusals:
    def document(self, **changes) -> RdmlDocument:
        values = dict(
            experiment_id="e",
            serial_number="s",
            samples=(RdmlSample(id="S1", types=(("unkn", ""),)),),
            targets=(RdmlTarget(id="T1", reference=False, dye="FAM"),),
            runs=(
                RdmlRun(
                    id="r", rows=8, columns=12, readings=(RdmlReading(1, 1, "S1", "T1", 25.5),)
                ),
            ),
            made_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
        values.update(changes)
        return RdmlDocument(**values)

    def test_a_minimal_document_is_valid(self):
        document = Rdml()
        document.loadXMLString(rdml_xml(self.document()).decode())
        assert document.isvalid()

    def test_standards_with_quantities_and_a_chosen_efficiency_are_valid(self):
        """A dilution series (one RDML sample per level, its quantity) and an assay's
        efficiency as RDML asks it (fold per cycle, 1.95 for 95 %)."""
        samples = tuple(
            RdmlSample(
                id=f"Standard {q:g} copies", types=(("std", ""),), quantities=((q, "cop", ""),)
            )
            for q in (1e3, 1e4, 1e5)
        )
        target = RdmlTarget(
            id="T1",
            reference=False,
            dye="FAM",
            chemistry="hydrolysis probe",
            efficiency=1.95,
            efficiency_se=0.012,
            efficiency_method="One run's standard curve",
        )
        readings = tuple(
            RdmlReading(1, n + 1, sample.id, "T1", 30.0 - 3.3 * n)
            for n, sample in enumerate(samples)
        )
        run = RdmlRun(id="r", rows=8, columns=12, readings=readings)
        xml = rdml_xml(self.document(samples=samples, targets=(target,), runs=(run,)))
        document = Rdml()
        document.loadXMLString(xml.decode())
        assert document.isvalid(), document.validate()
        text = xml.decode()
        assert "<amplificationEfficiency>1.95</amplificationEfficiency>" in text
        assert "<value>100000.0</value>" in text and "<unit>cop</unit>" in text
        parsed = parse_export(xml)
        assert [w.cq for w in parsed.wells] == [30.0, 26.7, 23.4]

    @pytest.mark.parametrize(
        ("unit", "code"), [("copies", "cop"), ("Dilution", "dil"), ("ng", "ng"), ("IU", "other")]
    )
    def test_units_map_to_the_schema_list(self, unit, code):
        assert rdml_unit(unit) == code

    @pytest.mark.parametrize(
        ("reading", "message"),
        [
            (RdmlReading(9, 1, "S1", "T1", 25.0), "row 9 column 1 is off a 8x12 plate"),
            (RdmlReading(1, 1, "S2", "T1", 25.0), "sample 'S2' is not declared"),
            (RdmlReading(1, 1, "S1", "T2", 25.0), "target 'T2' is not declared"),
        ],
    )
    def test_a_reading_the_schema_would_refuse_is_named(self, reading, message):
        run = RdmlRun(id="r", rows=8, columns=12, readings=(reading,))
        with pytest.raises(RdmlExportError, match=message):
            rdml_xml(self.document(runs=(run,)))

    def test_two_readings_of_one_target_in_a_well_are_refused(self):
        reading = RdmlReading(1, 1, "S1", "T1", 25.0)
        run = RdmlRun(id="r", rows=8, columns=12, readings=(reading, reading))
        with pytest.raises(RdmlExportError, match="reads target 'T1' twice"):
            rdml_xml(self.document(runs=(run,)))


class TestDownloads:
    def test_the_plate_page_links_its_rdml_and_serves_it(self, plate, client, technician):
        client.force_login(technician)
        page = client.get(reverse("web:plate_detail", args=[plate.pk])).content.decode()
        url = reverse("web:plate_rdml", args=[plate.pk])
        assert f'href="{url}"' in page
        response = client.get(url)
        assert response["Content-Type"] == "application/zip"
        assert 'filename="PL-RDML.rdml"' in response["Content-Disposition"]
        assert rdml_errors(response.content) == []

    def test_the_plate_list_links_the_study_file(self, plate, client, technician):
        client.force_login(technician)
        page = client.get(reverse("web:plate_list")).content.decode()
        assert reverse("web:study_rdml") in page
        parsed = parse_export(client.get(reverse("web:study_rdml")).content)
        assert {w.run for w in parsed.wells} == {"PL-RDML"}

    def test_the_api_serves_both_to_a_token_holder(self, plate, technician):
        api = APIClient()
        api.force_authenticate(technician)
        one = api.get(reverse("api:plate-rdml", args=[plate.pk]), HTTP_ACCEPT="application/zip")
        assert one.status_code == 200 and one["Content-Type"] == "application/zip"
        assert parse_export(one.content).wells
        every = api.get(reverse("api:plate-study-rdml"))
        assert every.status_code == 200
        assert rdml_errors(every.content) == []

    def test_an_analyst_may_not_read_plates(self, plate, client, analyst):
        client.force_login(analyst)
        assert client.get(reverse("web:plate_rdml", args=[plate.pk])).status_code == 403


class TestBackOntoThePlate:
    def test_the_import_preview_finds_every_well_the_same_and_every_name_agreeing(self, plate):
        """The export read back onto its own plate: nothing to change, no name mismatch."""
        preview = plate_import_preview(plate=plate, data=plate_rdml(plate), filename="x.rdml")
        wells = plate.wells.count()
        assert preview.errors == [
            f"Nothing to import: the file fills no empty well and changes no Cq "
            f"({wells} unchanged, 0 not in the file)"
        ]
        assert preview.mismatched == 0
        assert preview.unmapped_dyes == []
        assert preview.counts()["same"] == len(preview.changes) == wells
