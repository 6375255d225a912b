"""Laying a plate out by hand: place, move and clear positions, with every refusal
naming the position and changing nothing."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from biobank.models import PlateImport, QpcrPlate, Well
from biobank.services.plate_import import plate_import_confirm
from biobank.services.plate_setup import plate_set_up
from biobank.services.plates import plate_clear, plate_create, plate_move, plate_place

from .factories import ReverseTranscriptionFactory, study_assays
from .test_plates import export_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def assays():
    return study_assays()


@pytest.fixture
def mir122(assays):
    return next(a for a in assays if a.target == "hsa-miR-122-5p")


@pytest.fixture
def spike(assays):
    return next(a for a in assays if a.role == "spike_in")


@pytest.fixture
def plate(technician):
    return plate_create(barcode="PL-H", operator=technician)


@pytest.fixture
def rt(assays):
    return ReverseTranscriptionFactory(code="RT-H1")


def layout(plate) -> list[tuple[str, str, str, str, int]]:
    return [
        (w.position, w.kind, w.sample.code if w.sample_id else "", w.assay.target, w.replicate)
        for w in plate.wells.select_related("sample", "assay").order_by("row", "column", "pk")
    ]


def refused(message: str, field: str = "positions"):
    """Assert the call raises a ValidationError with `message` under `field`."""

    class Check:
        def __enter__(self):
            self.count = Well.objects.count()
            self.raises = pytest.raises(ValidationError)
            self.info = self.raises.__enter__()
            return self

        def __exit__(self, *exc):
            handled = self.raises.__exit__(*exc)
            messages = self.info.value.message_dict.get(field, [])
            assert any(message in m for m in messages), self.info.value.message_dict
            assert Well.objects.count() == self.count, "a refusal must change nothing"
            return handled

    return Check()


class TestPlace:
    def test_replicates_are_numbered_in_order_and_on_from_the_plate(self, plate, rt, mir122):
        plate_place(plate=plate, positions=["A1", "A2"], assays=[mir122], sample=rt)
        plate_place(plate=plate, positions=["C5"], assays=[mir122], sample=rt)
        assert layout(plate) == [
            ("A1", "sample", "RT-H1", "hsa-miR-122-5p", 1),
            ("A2", "sample", "RT-H1", "hsa-miR-122-5p", 2),
            ("C5", "sample", "RT-H1", "hsa-miR-122-5p", 3),
        ]
        assert plate.wells.first().history.first().history_change_reason == "placed by hand"

    def test_several_assays_at_one_position_make_a_multiplex_well(self, plate, rt, mir122, spike):
        plate_place(plate=plate, positions=["B2", "B3"], assays=[mir122, spike], sample=rt)
        assert plate.wells.count() == 4
        assert plate.wells.filter(row=2, column=2).count() == 2
        assert sorted(plate.wells.filter(assay=spike).values_list("replicate", flat=True)) == [
            1,
            2,
        ]

    def test_another_assay_may_join_a_position_of_the_same_sample(self, plate, rt, mir122, spike):
        plate_place(plate=plate, positions=["A1"], assays=[mir122], sample=rt)
        plate_place(plate=plate, positions=["A1"], assays=[spike], sample=rt)
        assert plate.wells.filter(row=1, column=1).count() == 2

    def test_controls_ntc_calibrator_and_inter_run_calibrator(self, plate, rt, assays):
        cal = ReverseTranscriptionFactory(code="RT-CAL")
        plate_place(plate=plate, positions=["H12", "H11"], assays=assays, kind="ntc")
        plate_place(plate=plate, positions=["G1"], assays=assays[:1], kind="irc", sample=cal)
        plate_place(plate=plate, positions=["G2"], assays=assays[:1], kind="calibrator", sample=cal)
        kinds = {(w[0], w[1], w[2]) for w in layout(plate)}
        assert ("H12", "ntc", "") in kinds and ("G1", "irc", "RT-CAL") in kinds
        assert ("G2", "calibrator", "RT-CAL") in kinds
        # NTC replicates are counted per assay, as the auto-fill does.
        assert set(plate.wells.filter(kind="ntc").values_list("replicate", flat=True)) == {1, 2}
        # IRC and calibrator of one RT product are separate replicate series.
        assert list(plate.wells.filter(sample=cal).values_list("replicate", flat=True)) == [1, 1]

    @pytest.mark.parametrize(
        ("positions", "message"),
        [
            (["A13"], "'A13' is not a position of plate PL-H (96 wells: A1-H12)"),
            (["I1"], "'I1' is not a position"),
            (["A1", "Z"], "'Z' is not a position"),
            (["A1", "a01"], "A1 is listed twice"),
            ([], "Choose at least one position"),
        ],
    )
    def test_positions_off_the_plate_are_named(self, plate, rt, mir122, positions, message):
        with refused(message):
            plate_place(plate=plate, positions=positions, assays=[mir122], sample=rt)

    def test_an_assay_already_at_the_position_is_refused(self, plate, rt, mir122, spike):
        plate_place(plate=plate, positions=["A2"], assays=[mir122], sample=rt)
        with refused("A2 already has a hsa-miR-122-5p well"):
            plate_place(plate=plate, positions=["A1", "A2"], assays=[spike, mir122], sample=rt)

    def test_another_sample_cannot_share_a_well(self, plate, rt, mir122, spike):
        plate_place(plate=plate, positions=["A1"], assays=[mir122], sample=rt)
        other = ReverseTranscriptionFactory(code="RT-H2")
        with refused("A1 holds RT-H1; RT-H2 cannot share its well"):
            plate_place(plate=plate, positions=["A1"], assays=[spike], sample=other)
        with refused("A1 holds RT-H1; NTC cannot share its well"):
            plate_place(plate=plate, positions=["A1"], assays=[spike], kind="ntc")

    def test_a_sample_not_primed_for_the_assay_is_refused(self, plate, mir122, spike):
        only_spike = ReverseTranscriptionFactory(code="RT-SP", assays=[spike])
        with refused("Not reverse-transcribed for: RT-SP / hsa-miR-122-5p", "sample"):
            plate_place(plate=plate, positions=["A1"], assays=[mir122], sample=only_spike)

    def test_kinds_and_samples_must_agree(self, plate, rt, mir122):
        with refused("A no-template control holds no sample", "sample"):
            plate_place(plate=plate, positions=["A1"], assays=[mir122], kind="ntc", sample=rt)
        with refused("Inter-run calibrator wells need an RT product", "sample"):
            plate_place(plate=plate, positions=["A1"], assays=[mir122], kind="irc")
        with refused("Choose at least one assay", "assays"):
            plate_place(plate=plate, positions=["A1"], assays=[], sample=rt)

    def test_a_plate_with_live_results_is_fixed_until_reverted(self, plate, rt, mir122, technician):
        plate_place(plate=plate, positions=["A1"], assays=[mir122], sample=rt)
        record = plate_import_confirm(
            plate=plate, data=export_for(plate), filename="run.txt", user=technician
        )
        with refused(f"Plate {plate.barcode} has imported results", "plate"):
            plate_place(plate=plate, positions=["A2"], assays=[mir122], sample=rt)
        # A live import refuses even when the status says "laid out" ...
        QpcrPlate.objects.filter(pk=plate.pk).update(status=QpcrPlate.Status.LAYOUT)
        with refused("has imported results", "plate"):
            plate_move(plate=plate, source="A1", target="A2")
        with refused("has imported results", "plate"):
            plate_clear(plate=plate, positions=["A1"])
        # ... and a reverted one does not.
        PlateImport.objects.filter(pk=record.pk).update(
            reverted_at=timezone.now(), revert_reason="wrong file"
        )
        plate_place(plate=plate, positions=["A2"], assays=[mir122], sample=rt)
        # The well the import touched keeps its history: it may move, not be cleared.
        with refused("A1 hold imported results (even reverted); they stay"):
            plate_clear(plate=plate, positions=["A1"])
        plate_move(plate=plate, source="A1", target="A3")

    def test_placing_is_constant_in_queries(self, plate, rt, assays):
        def queries(positions) -> int:
            with CaptureQueriesContext(connection) as captured:
                plate_place(plate=plate, positions=positions, assays=assays, sample=rt)
            return len(captured)

        one = queries(["A1"])
        # A row of 12 (36 wells); SQLite alone splits far larger inserts into batches.
        assert queries([f"B{n}" for n in range(1, 13)]) == one


class TestMoveAndClear:
    def test_a_move_takes_every_assay_and_keeps_the_wells(self, plate, rt, mir122, spike):
        placed = plate_place(plate=plate, positions=["A1"], assays=[mir122, spike], sample=rt)
        plate_move(plate=plate, source="A1", target="D7")
        assert [(w[0], w[4]) for w in layout(plate)] == [("D7", 1), ("D7", 1)]
        assert set(plate.wells.values_list("pk", flat=True)) == {w.pk for w in placed}
        assert plate.wells.first().history.first().history_change_reason == "moved from A1"

    def test_move_refusals(self, plate, rt, mir122):
        plate_place(plate=plate, positions=["A1", "A2"], assays=[mir122], sample=rt)
        with refused("A2 is not empty; clear it first", "target"):
            plate_move(plate=plate, source="A1", target="A2")
        with refused("B1 is empty", "source"):
            plate_move(plate=plate, source="B1", target="B2")
        with refused("'P1' is not a position", "target"):
            plate_move(plate=plate, source="A1", target="P1")
        assert [w[0] for w in layout(plate)] == ["A1", "A2"]

    def test_clear_removes_every_assay_at_the_positions(self, plate, rt, mir122, spike):
        plate_place(plate=plate, positions=["A1", "A2", "A3"], assays=[mir122, spike], sample=rt)
        assert plate_clear(plate=plate, positions=["A1", "A3"]) == 4
        assert [w[0] for w in layout(plate)] == ["A2", "A2"]

    def test_clearing_an_empty_position_is_refused_by_name(self, plate, rt, mir122):
        plate_place(plate=plate, positions=["A1"], assays=[mir122], sample=rt)
        with refused("Nothing to clear at B4, B5"):
            plate_clear(plate=plate, positions=["A1", "B4", "B5"])


class TestEmptyPlate:
    def test_a_plate_can_be_created_empty_to_lay_out_by_hand(self, technician):
        plate = plate_set_up(barcode="PL-E", operator=technician, by_hand=True)
        assert plate.wells.count() == 0 and plate.operator == technician
