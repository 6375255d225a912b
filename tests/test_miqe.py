"""MIQE 2.0 checklist (Bustin et al., Clin Chem 2025;71:634): filled from what ExoTrack
holds, the rest marked for the user, per plate and per analysis run, as a page, a
standalone HTML file and CSV."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from analysis.models import AnalysisRun
from biobank.selectors.miqe import FILLED, USER, plate_miqe, run_miqe
from biobank.services.plates import plate_create, plate_layout, well_exclude

from .factories import ReverseTranscriptionFactory, study_assays


def by_item(items):
    return {item.item: item for item in items}


@pytest.fixture
def assays(db):
    return study_assays()


def laid_out(barcode, assays, curator, codes=("RT-M1", "RT-M2")):
    plate = plate_create(barcode=barcode)
    rts = [ReverseTranscriptionFactory(code=code) for code in codes]
    plate_layout(plate=plate, samples=rts, assays=assays, replicates=3)
    for n, well in enumerate(plate.wells.exclude(kind="ntc").order_by("pk")):
        well.cq = 25 + (n % 3) * 0.1
        well.save(update_fields=["cq"])
    ntc = plate.wells.filter(kind="ntc").order_by("pk").first()
    ntc.cq = 37.5
    ntc.save(update_fields=["cq"])
    well_exclude(
        well=plate.wells.exclude(kind="ntc").first(), user=curator, reason="=HYPERLINK(bad)"
    )
    return plate


@pytest.fixture
def plate(assays, curator):
    return laid_out("PL-MIQE", assays, curator)


class TestPlateChecklist:
    def test_what_exotrack_holds_is_filled_with_its_source(self, plate):
        items = by_item(plate_miqe(plate))
        rna = items["RNA extraction kit and lot"]
        assert rna.status == FILLED and "lot MV-1" in rna.value and "RnaIsolation" in rna.source
        assert "lot CEL39-1" in items["Extraction control (spike-in), amount and lot"].value
        assert "ExoQuick lot EQ-1" in items["Exosome isolation procedure and reagent lot"].value
        assert "lot RT-1" in items["RT kit, lot and priming"].value
        ntc = items["No-template controls and their results"].value
        assert ntc.startswith("3 NTC wells; 1 with a Cq (lowest 37.50)")
        replicates = items["Technical replicates"].value
        assert replicates.startswith("3 per sample and assay; median SD of replicate Cq 0.100")
        assert "1 wells excluded" in items["Outlier identification and disposition"].value
        assert "cel-miR-39-3p" in items["Normalisation (reference targets)"].value
        assert "002245" in items["Targets, assay vendor and IDs"].value

    def test_what_it_cannot_know_is_marked_for_the_user(self, plate):
        items = by_item(plate_miqe(plate))
        for name in (
            "DNase treatment",
            "RNA integrity or quality assessment",
            "Thermocycling parameters",
            "Primer / probe sequences or amplicon context sequence",
        ):
            assert items[name].status == USER and items[name].value == ""
        # nothing imported yet: the Cq software item waits for the user
        assert items["Cq determination (software, method) and raw data"].status == USER

    def test_queries_do_not_grow_with_the_plates(self, plate, assays, curator):
        with CaptureQueriesContext(connection) as one:
            run_miqe(AnalysisRun(plan_id=None, n_patients=2))
        laid_out("PL-MIQE-2", assays, curator, codes=("RT-M3", "RT-M4", "RT-M5"))
        with CaptureQueriesContext(connection) as two:
            items = run_miqe(AnalysisRun(plan_id=None, n_patients=2))
        assert len(two) == len(one)
        assert "PL-MIQE-2: 96 wells" in by_item(items)["Plate format and layout"].value


class TestDownloads:
    def test_the_plate_page_links_the_checklist_page_csv_and_html(self, plate, client, technician):
        rna = plate.wells.exclude(kind="ntc").first().sample.rna
        rna.deviation = "=1+1"
        rna.save()
        client.force_login(technician)
        detail = client.get(reverse("web:plate_detail", args=[plate.pk])).content.decode()
        url = reverse("web:plate_miqe", args=[plate.pk])
        assert f'href="{url}"' in detail
        page = client.get(url).content.decode()
        assert "MIQE 2.0 checklist: plate PL-MIQE" in page
        assert "Clin Chem 2025;71:634" in page and "to complete" in page
        assert reverse("web:plate_miqe_csv", args=[plate.pk]) in page
        download = client.get(url, {"download": "1"})
        assert 'filename="PL-MIQE-miqe.html"' in download["Content-Disposition"]
        assert "<style>" in download.content.decode()  # standalone: styles inline
        response = client.get(reverse("web:plate_miqe_csv", args=[plate.pk]))
        assert response["Content-Type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.content.decode())))
        assert list(rows[0]) == ["section", "item", "status", "value", "source"]
        assert len(rows) == len(plate_miqe(plate))
        deviations = next(r for r in rows if r["item"] == "Deviations from the protocol")
        assert deviations["value"].endswith("=1+1")  # a typed deviation, neutralised
        assert not any(value.startswith("=") for row in rows for value in row.values())

    def test_the_run_report_links_its_checklist(self, plate, plan, client, analyst):
        run = AnalysisRun.objects.create(
            plan=plan,
            status=AnalysisRun.Status.SUCCEEDED,
            n_patients=2,
            spec={"analyses": [{"kind": "paired_t_test", "name": "Fig. 1"}]},
            versions={"scipy": "1.15"},
            qc={
                "available": True,
                "policy": "include_all",
                "policy_label": "Include all",
                "inclusion": [],
                "sensitivity": [],
                "status_counts": {},
                "flow": [{"step": "consenting", "n": 2}],
                "spike_in": [{"outlier": True}, {"outlier": False}],
                "excluded_measurements": [],
                "excluded_patients": [],
            },
        )
        client.force_login(analyst)
        report = client.get(reverse("analysis:run", args=[run.pk])).content.decode()
        url = reverse("analysis:run-miqe", args=[run.pk])
        assert f'href="{url}"' in report
        page = client.get(url).content.decode()
        assert f"run #{run.pk}" in page
        items = by_item(run_miqe(run))
        assert items["Number of patients in the analysis"].value == "2"
        assert items["Evidence that the reference is stable"].value.startswith("1 of 2")
        assert items["Statistical methods"].value == "Fig. 1"
        corrected = items["Results as efficiency-corrected quantities with their uncertainty"]
        assert corrected.status == USER and "2^-dCq" in corrected.source
        assert items["Software and versions"].value == "scipy 1.15"
        assert "PL-MIQE: 96 wells" in items["Plate format and layout"].value
        csv_text = client.get(reverse("analysis:run-miqe-csv", args=[run.pk])).content.decode()
        assert csv_text.startswith("section,item,status,value,source")

    def test_an_analyst_may_not_open_a_plate_checklist(self, plate, client, analyst):
        client.force_login(analyst)
        assert client.get(reverse("web:plate_miqe", args=[plate.pk])).status_code == 403


def test_an_empty_plate_fills_nothing_it_does_not_hold(db):
    """No wells, no claims: only the plate's own instrument is filled; nothing says
    'singleplex', '0 wells excluded' or that RDML data exist."""
    items = plate_miqe(plate_create(barcode="PL-EMPTY"))
    assert [item.item for item in items if item.status != USER] == ["Instrument"]
