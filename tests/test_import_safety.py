"""An import cannot silently overwrite results, and can be undone (issue 11).

The case that started it: the real ABI QuantStudio example confirmed onto a filled
demo plate ("3 wells filled, 90 changed"; every sample name disagreed) overwrote the
Cq of five cohort patients. Here: a technician is refused; a curator may, with a
reason to replace and a reason to override; the revert restores every well and
decision, and the cohort fingerprint the analyses see comes back identical.
"""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from analysis.models import AnalysisPlan
from analysis.services import input_fingerprint, load_cohort
from biobank.models import PlateImport, QpcrPlate, Well, WellImportChange
from biobank.services.plate_import import (
    MISMATCH_THRESHOLD,
    plate_import_confirm,
    plate_import_preview,
)
from biobank.services.plate_import_revert import plate_import_revert
from biobank.services.plates import plate_create, plate_layout, well_exclude

from .factories import ReverseTranscriptionFactory, study_assays
from .instruments.exports import real_export
from .test_plates import export_for, lc480_export

pytestmark = pytest.mark.django_db

ABI = "abi-quantstudio7flex-standard-curve-example.txt"
MAESTRO = "biorad-cfxmaestro-allotropy-example01.csv"
WELL_STATE = [
    "id",
    "cq",
    "imported_from_id",
    "excluded",
    "exclusion_reason",
    "excluded_by_id",
    "excluded_at",
]


def state(plate) -> list[tuple]:
    return list(plate.wells.order_by("pk").values_list(*WELL_STATE))


def nothing_saved(before: list[tuple], plate) -> None:
    assert state(plate) == before
    assert not PlateImport.objects.exists() and not WellImportChange.objects.exists()


def fingerprint() -> str:
    plan = AnalysisPlan.objects.get(name="paper-default")
    return input_fingerprint(load_cohort(), plan.spec)


@pytest.fixture
def demo_plate(curator):
    """The first plate of a small synthetic demo cohort: 93 wells, every sample well
    with a Cq, like the plate of the incident; two hand decisions on it."""
    from biobank.demo.cohort import generate_cohort
    from biobank.demo.loader import load_cohort as load_demo

    load_demo(generate_cohort(n=12, seed=3))
    plate = QpcrPlate.objects.get(barcode="DEMO-QP-0001")
    first, second = plate.wells.filter(cq__isnull=False).order_by("row", "column")[:2]
    well_exclude(well=first, user=curator, reason="bubble seen after the run")
    well_exclude(well=second, user=curator, reason="pipetting error noted on the sheet")
    return plate


class TestTheIncident:
    def test_the_preview_says_what_would_be_lost(self, demo_plate):
        preview = plate_import_preview(plate=demo_plate, data=real_export(ABI), filename=ABI)
        assert preview.counts() == {
            "fill": 3,
            "change": 90,
            "same": 0,
            "unresolved": 0,
            "missing": 0,
        }
        assert len(preview.changes) == demo_plate.wells.count()  # every layout well
        assert preview.mostly_mismatched and preview.mismatched == preview.named_wells > 0
        assert preview.patients == [f"DEMO-000{n}" for n in range(1, 6)]
        assert preview.changed_patients == preview.patients
        assert preview.analyses == ["paper-default"]
        assert len(preview.stray_readings) == 2  # readings at positions with no well
        assert sum(change.decided for change in preview.changes) == 2

    def test_a_technician_cannot_overwrite(self, demo_plate, technician):
        before = state(demo_plate)
        with pytest.raises(ValidationError) as refused:
            plate_import_confirm(
                plate=demo_plate,
                data=real_export(ABI),
                filename=ABI,
                user=technician,
                replace=True,
                reason="re-read",
                override_reason="I am sure",
            )
        message = refused.value.message_dict["file"][0]
        assert "disagree with the layout (more than 50%)" in message
        assert "A technician cannot confirm it" in message
        nothing_saved(before, demo_plate)

    @pytest.mark.parametrize(
        ("arguments", "field", "words"),
        [
            ({"reason": "x", "override_reason": "y"}, "replace", "changes 90 existing Cq"),
            ({"replace": True, "override_reason": "y"}, "reason", "reason for replacing 90"),
            ({"replace": True, "reason": "x"}, "override_reason", "reason for overriding"),
        ],
        ids=["no replace", "no reason", "no override reason"],
    )
    def test_a_curator_must_say_replace_and_why(self, demo_plate, curator, arguments, field, words):
        before = state(demo_plate)
        with pytest.raises(ValidationError) as refused:
            plate_import_confirm(
                plate=demo_plate, data=real_export(ABI), filename=ABI, user=curator, **arguments
            )
        assert words in refused.value.message_dict[field][0]
        nothing_saved(before, demo_plate)

    def test_a_curator_overrides_and_the_revert_restores_everything(
        self, demo_plate, curator, technician
    ):
        data = real_export(ABI)
        before, cohort_before = state(demo_plate), fingerprint()
        decided = {row[0]: row for row in before if row[3] is not None}
        assert len(decided) == 2

        record = plate_import_confirm(
            plate=demo_plate,
            data=data,
            filename=ABI,
            user=curator,
            replace=True,
            reason="instrument re-analysed with a new threshold",
            override_reason="sample names were typed on the instrument by mistake",
        )
        assert (record.wells_filled, record.wells_changed) == (3, 90)
        assert record.wells_mismatched > MISMATCH_THRESHOLD * 90
        assert record.replace_reason and record.override_reason
        assert WellImportChange.objects.filter(plate_import=record).count() == 93
        after = {row[0]: row for row in state(demo_plate)}
        assert all(after[pk][3] is None and after[pk][4] == "" for pk in decided)  # cleared
        change = WellImportChange.objects.get(plate_import=record, well_id=next(iter(decided)))
        assert change.previous_excluded is True and change.previous_exclusion_reason
        assert fingerprint() != cohort_before  # the import did change what analyses read

        reverted = plate_import_revert(
            plate_import=record, user=technician, reason="wrong plate's file"
        )
        assert reverted.reverted_by == technician and reverted.revert_reason
        assert state(demo_plate) == before  # every Cq, import and decision, exactly
        assert fingerprint() == cohort_before
        well = demo_plate.wells.get(pk=next(iter(decided)))
        assert well.history.latest().history_change_reason == (
            f"revert of import #{record.pk}: wrong plate's file"
        )
        demo_plate.refresh_from_db()
        assert demo_plate.status == QpcrPlate.Status.LAYOUT

        # The same file again after the revert: a new live import.
        again = plate_import_confirm(
            plate=demo_plate,
            data=data,
            filename=ABI,
            user=curator,
            replace=True,
            reason="it was the right file after all",
            override_reason="names typed by mistake",
        )
        assert again.pk != record.pk and again.raw_file.name == record.raw_file.name
        assert again.wells_changed == 90
        assert PlateImport.objects.filter(reverted_at__isnull=True).get() == again


class TestRevertRules:
    @pytest.fixture
    def plate(self, technician):
        plate = plate_create(barcode="PL-R", operator=technician)
        samples = [ReverseTranscriptionFactory(code=f"RT-{n}") for n in (1, 2)]
        plate_layout(plate=plate, samples=samples, assays=study_assays(), replicates=3)
        return plate

    def test_a_revert_needs_a_reason_and_happens_once(self, plate, technician):
        record = plate_import_confirm(
            plate=plate, data=export_for(plate), filename="a.txt", user=technician
        )
        with pytest.raises(ValidationError) as refused:
            plate_import_revert(plate_import=record, user=technician, reason=" ")
        assert "reason" in refused.value.message_dict
        assert not PlateImport.objects.filter(reverted_at__isnull=False).exists()
        plate_import_revert(plate_import=record, user=technician, reason="wrong file")
        assert not plate.wells.filter(cq__isnull=False).exists()
        with pytest.raises(ValidationError) as refused:
            plate_import_revert(plate_import=record, user=technician, reason="again")
        assert "was already reverted" in refused.value.message_dict["plate_import"][0]

    def test_a_later_import_of_the_same_wells_is_reverted_first(self, plate, technician):
        first = plate_import_confirm(
            plate=plate, data=export_for(plate), filename="a.txt", user=technician
        )
        filled = state(plate)
        second = plate_import_confirm(
            plate=plate,
            data=export_for(plate, cq=lambda well: 30.0),
            filename="b.txt",
            user=technician,
            replace=True,
            reason="re-run",
        )
        with pytest.raises(ValidationError) as refused:
            plate_import_revert(plate_import=first, user=technician, reason="wrong")
        assert f"Import #{second.pk} (b.txt" in refused.value.message_dict["plate_import"][0]
        assert "revert that one first" in refused.value.message_dict["plate_import"][0]
        assert plate.wells.filter(cq=30.0).count() == 18  # nothing changed
        plate_import_revert(plate_import=second, user=technician, reason="wrong")
        assert state(plate) == filled
        plate_import_revert(plate_import=first, user=technician, reason="wrong too")
        assert not plate.wells.filter(cq__isnull=False).exists()

    def test_nothing_importable_is_refused(self, plate, technician):
        plate_import_confirm(plate=plate, data=export_for(plate), filename="a.txt", user=technician)
        same_values = export_for(plate).replace(b"Experiment:", b"Experiment: again")
        preview = plate_import_preview(plate=plate, data=same_values, filename="b.txt")
        assert preview.count("same") == 21 and not preview.can_confirm
        assert preview.errors[0].startswith("Nothing to import")
        with pytest.raises(ValidationError):
            plate_import_confirm(plate=plate, data=same_values, filename="b.txt", user=technician)
        assert PlateImport.objects.count() == 1

    def test_a_few_disagreeing_names_are_shown_and_recorded(self, plate, technician):
        wells = list(plate.wells.select_related("sample").order_by("row", "column"))
        rows = [(w.position, w.sample.code if w.sample_id else "NTC", "21.00") for w in wells]
        rows[0] = (rows[0][0], "somebody else", "21.00")
        record = plate_import_confirm(
            plate=plate, data=lc480_export(rows), filename="c.txt", user=technician
        )
        assert record.wells_mismatched == 1
        assert any("somebody else" in warning for warning in record.warnings)


class TestQueryCounts:
    """Preview, confirm and revert cost the same whatever the plate size."""

    def run(self, size: int, n_samples: int, user) -> dict[str, int]:
        plate = plate_create(barcode=f"Q-{size}", plate_format=size)
        plate_layout(
            plate=plate,
            samples=[ReverseTranscriptionFactory() for _ in range(n_samples)],
            assays=study_assays(),
        )
        counts = {}
        data = export_for(plate)
        with CaptureQueriesContext(connection) as queries:
            plate_import_preview(plate=plate, data=data, filename="x.txt")
        counts["preview"] = len(queries)
        with CaptureQueriesContext(connection) as queries:
            record = plate_import_confirm(plate=plate, data=data, filename="x.txt", user=user)
        counts["confirm"] = len(queries)
        with CaptureQueriesContext(connection) as queries:
            plate_import_revert(plate_import=record, user=user, reason="test")
        counts["revert"] = len(queries)
        return counts

    def test_pinned(self, technician):
        small = self.run(96, 10, technician)
        large = self.run(384, 42, technician)
        # duplicate check, layout with patients, the plans a write re-runs
        assert small["preview"] == large["preview"] == 3
        # Nothing per well on either database: two statements write the wells and their
        # history, one the WellImportChange rows (an executemany on SQLite).
        assert small == large
        if connection.vendor == "postgresql":
            # + the wells locked in pk order before they are read
            assert small == {"preview": 3, "confirm": 15, "revert": 13}
        else:
            # lock, duplicate, layout, plans, the record (savepoint), change rows, wells
            # (update + history), the plate (+ history)
            assert small == {"preview": 3, "confirm": 14, "revert": 12}


def multiplex_plate(user) -> QpcrPlate:
    """A multiplex layout named like the CFX Maestro file: at each of its positions a
    miR-122 well and a cel-miR-39 well of the RT product the file names there."""
    from biobank.instruments import parse_export

    assays = {assay.target: assay for assay in study_assays()}
    plate = plate_create(barcode="PL-MX", operator=user)
    names = {r.position: r.sample_name for r in parse_export(real_export(MAESTRO)).wells}
    products = {name: ReverseTranscriptionFactory(code=name) for name in set(names.values())}
    Well.objects.bulk_create(
        Well(
            plate=plate,
            row=ord(position[0]) - 64,
            column=int(position[1:]),
            sample=products[name],
            assay=assays[target],
        )
        for position, name in names.items()
        for target in ("hsa-miR-122-5p", "cel-miR-39-3p")
    )
    return plate


class TestMultiplex:
    """The Bio-Rad CFX Maestro example: FAM and VIC at 24 positions, no target names."""

    @pytest.fixture
    def plate(self, technician):
        return multiplex_plate(technician)

    MAPPING = {"FAM": "hsa-miR-122-5p", "VIC": "cel-miR-39-3p"}

    def test_unmapped_dyes_leave_nothing_to_confirm(self, plate, technician):
        data = real_export(MAESTRO)
        preview = plate_import_preview(plate=plate, data=data, filename=MAESTRO)
        assert preview.dyes == ["FAM", "VIC"] and preview.unmapped_dyes == ["FAM", "VIC"]
        assert preview.count("unresolved") == 48 and not preview.can_confirm
        assert "until the dyes FAM, VIC are mapped" in preview.errors[0]
        with pytest.raises(ValidationError):
            plate_import_confirm(plate=plate, data=data, filename=MAESTRO, user=technician)
        assert not PlateImport.objects.exists()

    def test_a_mapping_names_one_assay_per_dye(self, plate):
        preview = plate_import_preview(
            plate=plate,
            data=real_export(MAESTRO),
            filename=MAESTRO,
            dye_assays={"FAM": "hsa-miR-122-5p", "VIC": "miR-122"},
        )
        assert "both mapped to hsa-miR-122-5p" in " ".join(preview.errors)
        assert not preview.can_confirm

    def test_imports_after_mapping_and_the_plate_remembers(self, plate, technician):
        from biobank.instruments import parse_export

        data = real_export(MAESTRO)
        preview = plate_import_preview(
            plate=plate, data=data, filename=MAESTRO, dye_assays=self.MAPPING
        )
        assert preview.count("fill") == 48 and preview.mismatched == 0, preview.errors
        record = plate_import_confirm(
            plate=plate, data=data, filename=MAESTRO, user=technician, dye_assays=self.MAPPING
        )
        plate.refresh_from_db()
        assert record.dye_assays == self.MAPPING and plate.dye_assays == self.MAPPING
        for reading in parse_export(data).wells:
            well = plate.wells.get(
                row=ord(reading.position[0]) - 64,
                column=int(reading.position[1:]),
                assay__target=self.MAPPING[reading.dye],
            )
            assert well.cq == pytest.approx(reading.cq), reading
        # The next import of the plate starts from the remembered mapping.
        plate_import_revert(plate_import=record, user=technician, reason="test the memory")
        again = plate_import_preview(plate=plate, data=data, filename=MAESTRO)
        assert again.dye_assays == self.MAPPING and again.count("fill") == 48

    def test_a_dye_not_read(self, plate):
        preview = plate_import_preview(
            plate=plate,
            data=real_export(MAESTRO),
            filename=MAESTRO,
            dye_assays={"FAM": "hsa-miR-122-5p", "VIC": ""},
        )
        assert preview.count("fill") == 24 and preview.count("missing") == 24


class TestApi:
    @pytest.fixture
    def api(self):
        def client_for(user):
            client = APIClient()
            client.force_authenticate(user)
            return client

        return client_for

    def post(self, client, plate, name, data, **fields):
        from django.core.files.uploadedfile import SimpleUploadedFile

        return client.post(
            reverse(f"api:plate-{name}", args=[plate.pk]),
            {"file": SimpleUploadedFile("run.txt", data), **fields},
            format="multipart",
        )

    def test_the_rules_hold_on_the_api(
        self, demo_plate, api, technician, curator, settings, tmp_path
    ):
        settings.MEDIA_ROOT = tmp_path
        data, before = real_export(ABI), state(demo_plate)
        preview = self.post(api(technician), demo_plate, "import-preview", data).json()
        assert preview["changes"] == 90 and preview["mostly_mismatched"] is True
        assert preview["mismatch_threshold"] == MISMATCH_THRESHOLD
        refused = self.post(api(technician), demo_plate, "import", data, replace=True, reason="x")
        assert refused.status_code == 400 and "A technician cannot" in refused.json()["file"][0]
        refused = self.post(api(curator), demo_plate, "import", data, override_reason="y")
        assert refused.status_code == 400 and {"replace", "reason"} <= set(refused.json())
        nothing_saved(before, demo_plate)
        done = self.post(
            api(curator), demo_plate, "import", data, replace=True, reason="x", override_reason="y"
        )
        assert done.status_code == 201 and done.json()["is_reverted"] is False
        url = reverse("api:plate-import-revert", args=[demo_plate.pk])
        no_reason = api(technician).post(url, {"plate_import": done.json()["id"]}, format="json")
        assert no_reason.status_code == 400 and "reason" in no_reason.json()
        reverted = api(technician).post(
            url, {"plate_import": done.json()["id"], "reason": "wrong file"}, format="json"
        )
        assert reverted.status_code == 200, reverted.json()
        assert reverted.json()["is_reverted"] is True and reverted.json()["reverted_by"] == "tech"
        assert state(demo_plate) == before
        listed = api(technician).get(reverse("api:plate-imports", args=[demo_plate.pk])).json()
        assert [item["revert_reason"] for item in listed] == ["wrong file"]
        unknown = api(technician).post(url, {"plate_import": 999999, "reason": "x"}, format="json")
        assert (
            unknown.status_code == 400 and "no import #999999" in unknown.json()["plate_import"][0]
        )

    def test_the_dye_mapping_on_the_api(self, api, technician, settings, tmp_path):
        settings.MEDIA_ROOT = tmp_path
        plate = multiplex_plate(technician)
        data = real_export(MAESTRO)
        mapping = json.dumps(TestMultiplex.MAPPING)
        preview = self.post(api(technician), plate, "import-preview", data).json()
        assert preview["dyes"] == ["FAM", "VIC"] and preview["can_confirm"] is False
        done = self.post(api(technician), plate, "import", data, dye_assays=mapping)
        assert done.status_code == 201, done.json()
        assert done.json()["dye_assays"] == TestMultiplex.MAPPING
        bad = self.post(api(technician), plate, "import-preview", data, dye_assays="[1]")
        assert bad.status_code == 400 and "dye_assays" in bad.json()


# --- readings no plate can take (issue 17, items 4 and 5) ------------------------------


def raw_files(media_root) -> list[str]:
    """Every file under MEDIA_ROOT (raw exports and scratch uploads alike)."""
    return sorted(str(p.relative_to(media_root)) for p in media_root.rglob("*") if p.is_file())


class TestRefusedAtPreview:
    """A Cq outside the one range and a well read twice are refused by the preview,
    naming the well; the confirm repeats the preview, so it refuses the same way
    (a ValidationError, never a database error), with nothing saved and no file kept."""

    @pytest.fixture
    def plate(self, technician, settings, tmp_path):
        settings.MEDIA_ROOT = tmp_path
        plate = plate_create(barcode="PL-Q", operator=technician)
        samples = [ReverseTranscriptionFactory(code=f"RT-{n}") for n in (1, 2)]
        plate_layout(plate=plate, samples=samples, assays=study_assays(), replicates=3)
        return plate

    def rows(self, plate, cq=lambda well: 25.0):
        wells = plate.wells.select_related("sample").order_by("row", "column")
        return [
            (w.position, w.sample.code if w.sample_id else "NTC", f"{cq(w):.2f}") for w in wells
        ]

    def refused(self, plate, data, technician, tmp_path) -> list[str]:
        before = state(plate)
        preview = plate_import_preview(plate=plate, data=data, filename="run.txt")
        assert not preview.can_confirm
        with pytest.raises(ValidationError) as refused:
            plate_import_confirm(plate=plate, data=data, filename="run.txt", user=technician)
        assert refused.value.message_dict["file"] == preview.errors
        nothing_saved(before, plate)
        assert raw_files(tmp_path) == []
        return preview.errors

    @pytest.mark.parametrize("cq", [75.0, 60.0, 99.5])
    def test_a_cq_outside_0_60_names_the_well(self, plate, technician, tmp_path, cq):
        # Line 1 the title, 2 the header, then A1-A12, B1 ...: B2 is on line 16.
        data = lc480_export(self.rows(plate, lambda w: cq if w.position == "B2" else 25.0))
        errors = self.refused(plate, data, technician, tmp_path)
        assert errors == [f"well B2: Cq {cq:g} is outside 0-60 cycles (line 16)"]

    def test_a_well_twice_names_the_position(self, plate, technician, tmp_path):
        rows = self.rows(plate)
        first = rows[0]
        data = lc480_export([*rows, (first[0], first[1], "26.00")])  # A1 again, other Cq
        errors = self.refused(plate, data, technician, tmp_path)
        assert len(errors) == 1 and errors[0].startswith("well A1 is in the file 2 times")
        assert "Cq 25, 26" in errors[0]

    def test_the_api_answers_400_naming_the_well(self, plate, technician, tmp_path):
        client = APIClient()
        client.force_authenticate(technician)
        data = lc480_export(self.rows(plate, lambda w: 75.0 if w.position == "A2" else 25.0))
        preview = TestApi.post(None, client, plate, "import-preview", data)
        assert preview.status_code == 200 and preview.json()["can_confirm"] is False
        assert preview.json()["errors"] == ["well A2: Cq 75 is outside 0-60 cycles (line 4)"]
        confirm = TestApi.post(None, client, plate, "import", data)
        assert confirm.status_code == 400, confirm.content
        assert confirm.json()["file"] == ["well A2: Cq 75 is outside 0-60 cycles (line 4)"]
        assert not PlateImport.objects.exists() and raw_files(tmp_path) == []

    def test_the_dye_mapping_never_lets_a_second_reading_win(self, technician):
        """Two FAM readings at A1 that differ in target name (so not duplicates by
        name): through the dye mapping both would be miR-122's, so the well is left
        unresolved rather than given whichever came last."""
        plate = multiplex_plate(technician)
        lines = real_export(MAESTRO).decode().splitlines()
        first = next(line for line in lines if line.startswith(",A01,FAM,,"))
        twin = first.replace(",FAM,,", ",FAM,x,").replace(",21.18", ",29.18")
        data = "\n".join([lines[0], first, twin]).encode()
        preview = plate_import_preview(
            plate=plate, data=data, filename="m.csv", dye_assays=TestMultiplex.MAPPING
        )
        a1 = {c.assay: c for c in preview.changes if c.position == "A1"}
        assert a1["hsa-miR-122-5p"].action == "unresolved" and a1["hsa-miR-122-5p"].new_cq is None
        assert "2 readings map to hsa-miR-122-5p" in a1["hsa-miR-122-5p"].note
        assert preview.count("fill") == 0 and not preview.can_confirm


class TestUploadCap:
    """A body over EXOTRACK_MAX_UPLOAD_MB is refused before it is read (413, JSON)."""

    def test_a_60_mb_upload_is_refused_before_it_is_read(
        self, technician, monkeypatch, settings, tmp_path
    ):
        from django.http.multipartparser import MultiPartParser

        settings.MEDIA_ROOT = tmp_path
        plate = plate_create(barcode="PL-BIG", operator=technician)

        def parse(self):
            raise AssertionError("the upload was read")

        monkeypatch.setattr(MultiPartParser, "parse", parse)
        client = APIClient()
        client.force_authenticate(technician)
        for name in ("import-preview", "import"):
            response = TestApi.post(None, client, plate, name, b"x" * (60 * 1024 * 1024))
            assert response.status_code == 413
            assert response.json() == {
                "detail": "The upload is 60.0 MB; a file may be at most 20 MB "
                "(EXOTRACK_MAX_UPLOAD_MB). An instrument export is far smaller: is this the "
                "right file?"
            }
        assert not PlateImport.objects.exists() and raw_files(tmp_path) == []

    def test_the_serializer_checks_the_file_size_too(self, technician, settings, tmp_path):
        settings.MEDIA_ROOT = tmp_path
        settings.EXOTRACK_MAX_UPLOAD_BYTES = 1000
        plate = plate_create(barcode="PL-BIG", operator=technician)
        client = APIClient()
        client.force_authenticate(technician)
        response = TestApi.post(None, client, plate, "import-preview", b"x" * 1001)
        assert response.status_code == 400
        assert response.json()["file"][0].startswith("The upload is 0.0 MB; a file may be at")


class TestNoOrphanFile:
    """The raw export is written as the confirm's last step and removed again when the
    transaction does not commit: a failed confirm leaves no file in MEDIA_ROOT."""

    @pytest.fixture
    def plate(self, technician, settings, tmp_path):
        settings.MEDIA_ROOT = tmp_path
        plate = plate_create(barcode="PL-O", operator=technician)
        samples = [ReverseTranscriptionFactory(code=f"RT-{n}") for n in (1, 2)]
        plate_layout(plate=plate, samples=samples, assays=study_assays(), replicates=3)
        return plate

    def test_a_write_failing_leaves_no_file_and_nothing_saved(
        self, plate, technician, tmp_path, monkeypatch
    ):
        from django.db import IntegrityError

        from biobank.services import plate_import

        def refuse(*args, **kwargs):
            raise IntegrityError("a constraint the checks did not foresee")

        monkeypatch.setattr(plate_import, "bulk_update_with_history_sql", refuse)
        before = state(plate)
        with pytest.raises(IntegrityError):
            plate_import_confirm(
                plate=plate, data=export_for(plate), filename="a.txt", user=technician
            )
        nothing_saved(before, plate)
        assert raw_files(tmp_path) == []

    def test_a_commit_failing_removes_the_file_written(
        self, plate, technician, tmp_path, monkeypatch
    ):
        from django.db import DatabaseError

        from biobank.services import plate_import

        confirm = plate_import._confirm

        def fails_at_commit(**options):
            confirm(**options)
            assert len(raw_files(tmp_path)) == 1  # written, as the last step
            raise DatabaseError("could not commit")

        monkeypatch.setattr(plate_import, "_confirm", fails_at_commit)
        with pytest.raises(DatabaseError):
            plate_import_confirm(
                plate=plate, data=export_for(plate), filename="a.txt", user=technician
            )
        assert raw_files(tmp_path) == []

    def test_a_file_kept_by_an_earlier_import_is_never_removed(
        self, plate, technician, tmp_path, monkeypatch
    ):
        from django.db import DatabaseError

        from biobank.services import plate_import

        data = export_for(plate)
        first = plate_import_confirm(plate=plate, data=data, filename="a.txt", user=technician)
        plate_import_revert(plate_import=first, user=technician, reason="again")
        confirm = plate_import._confirm

        def fails_at_commit(**options):
            confirm(**options)
            raise DatabaseError("could not commit")

        monkeypatch.setattr(plate_import, "_confirm", fails_at_commit)
        with pytest.raises(DatabaseError):
            plate_import_confirm(plate=plate, data=data, filename="a.txt", user=technician)
        assert raw_files(tmp_path) == [first.raw_file.name]
        assert first.raw_file.read() == data
