"""Choosing the efficiency an assay is quantified with: run, pooled, declared or the
100 % default, stored with its evidence and who chose it; refusals name the field and
change nothing; the page shows the runs' curves and saves a curator's choice."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from analysis.efficiency import pooled_efficiency
from biobank.models import AssayEfficiency
from biobank.selectors.standard_curves import standard_curves
from biobank.services.efficiency import assay_efficiency_choose
from biobank.services.plate_import import plate_import_confirm
from biobank.services.plates import plate_create

from .factories import study_assays
from .test_plate_standards import _place_reference_series

pytestmark = pytest.mark.django_db


@pytest.fixture
def assays():
    return {a.target: a for a in study_assays()}


@pytest.fixture
def mir122(assays):
    return assays["hsa-miR-122-5p"]


@pytest.fixture
def runs(assays, technician):
    """Two imported plates with the same two dilution series; the second's Cq shifted
    so that the curves differ."""
    plates = []
    for n in range(2):
        plate = plate_create(barcode=f"PL-E{n}", operator=technician)
        data, _ = _place_reference_series(plate, assays, with_quantities=True)
        if n:
            data = data.replace(b"\t17.76\t", b"\t17.96\t").replace(b"\t31.40\t", b"\t31.10\t")
        plate_import_confirm(plate=plate, data=data, filename=f"std{n}.txt", user=technician)
        plates.append(plate)
    return plates


def test_run_stores_the_curves_efficiency_and_its_evidence(mir122, runs, curator):
    chosen = assay_efficiency_choose(assay=mir122, method="run", plate=runs[0], user=curator)
    curve = standard_curves(plate_ids=[runs[0].pk], assay_ids=[mir122.pk])[0].curve
    assert (chosen.method, chosen.value, chosen.se) == (
        "run",
        curve.efficiency,
        curve.efficiency_se,
    )
    assert chosen.value == pytest.approx(0.9414628371084757, abs=1e-12)  # R reference
    assert chosen.evidence["curves"][0]["plate"] == "PL-E0"
    assert chosen.evidence["curves"][0]["slope"] == curve.slope
    assert chosen.chosen_by == curator


def test_pooled_is_the_inverse_variance_mean_of_the_runs(mir122, runs, curator):
    chosen = assay_efficiency_choose(assay=mir122, method="pooled", plates=runs, user=curator)
    curves = [c.curve for c in standard_curves(assay_ids=[mir122.pk])]
    expected = pooled_efficiency(curves)
    assert curves[0].efficiency != curves[1].efficiency
    assert (chosen.value, chosen.se) == (expected.efficiency, expected.se)
    assert [c["plate"] for c in chosen.evidence["curves"]] == ["PL-E0", "PL-E1"]


def test_a_new_choice_replaces_the_old_one_and_the_history_keeps_it(mir122, runs, curator):
    assay_efficiency_choose(assay=mir122, method="run", plate=runs[0], user=curator)
    assay_efficiency_choose(
        assay=mir122, method="declared", value=0.95, se=0.01, source="kit insert", user=curator
    )
    assay_efficiency_choose(assay=mir122, method="default", user=curator)
    chosen = AssayEfficiency.objects.get(assay=mir122)
    assert (chosen.method, chosen.value, chosen.se) == ("default", 1.0, 0.0)
    assert [h.method for h in chosen.history.order_by("history_id")] == [
        "run",
        "declared",
        "default",
    ]


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"method": "guess"}, "method", "Unknown method"),
        ({"method": "run"}, "plate", "Choose the run"),
        ({"method": "pooled", "plates": "one"}, "plates", "at least two runs"),
        ({"method": "declared", "source": "kit"}, "value", "Give the declared"),
        ({"method": "declared", "value": 0.95}, "source", "comes from"),
        ({"method": "declared", "value": 95, "source": "kit"}, "value", "as a fraction"),
        ({"method": "declared", "value": 0.95, "se": -1, "source": "kit"}, "se", "≥ 0"),
    ],
)
def test_refusals_name_the_field_and_change_nothing(mir122, runs, curator, kwargs, field, message):
    if kwargs.get("plates") == "one":
        kwargs = {**kwargs, "plates": runs[:1]}
    with pytest.raises(ValidationError) as error:
        assay_efficiency_choose(assay=mir122, user=curator, **kwargs)
    assert message in " ".join(error.value.message_dict[field])
    assert not AssayEfficiency.objects.exists()


def test_a_run_without_the_assays_standards_is_refused_by_name(assays, runs, curator):
    mir21 = assays["hsa-miR-21-5p"]
    with pytest.raises(ValidationError) as error:
        assay_efficiency_choose(assay=mir21, method="run", plate=runs[0], user=curator)
    assert error.value.message_dict == {
        "plate": ["plate PL-E0 has no hsa-miR-21-5p standard wells"]
    }


class TestPage:
    def test_a_curator_chooses_the_pooled_value_on_the_page(self, client, curator, mir122, runs):
        client.force_login(curator)
        url = reverse("web:assay_efficiency", args=[mir122.pk])
        page = client.get(url).content.decode()
        assert "PL-E0" in page and "PL-E1" in page and "94.1 % ± 1.2 %" in page
        response = client.post(
            url, {"method": "pooled", "plates": [runs[0].pk, runs[1].pk]}, follow=True
        )
        assert "Pooled over runs" in response.content.decode()
        assert AssayEfficiency.objects.get(assay=mir122).method == "pooled"
        listing = client.get(reverse("web:assay_efficiency_list")).content.decode()
        assert "Pooled over runs" in listing

    def test_a_declared_percentage_is_stored_as_a_fraction(self, client, curator, mir122):
        client.force_login(curator)
        url = reverse("web:assay_efficiency", args=[mir122.pk])
        client.post(url, {"method": "declared", "value": "92.5", "se": "1", "source": "insert"})
        chosen = AssayEfficiency.objects.get(assay=mir122)
        assert (chosen.value, chosen.se, chosen.source) == (0.925, 0.01, "insert")

    def test_a_refusal_shows_beside_its_field(self, client, curator, mir122):
        client.force_login(curator)
        url = reverse("web:assay_efficiency", args=[mir122.pk])
        page = client.post(url, {"method": "declared", "value": "92.5"}).content.decode()
        assert "Say where the declared value comes from" in page
        assert not AssayEfficiency.objects.exists()

    def test_a_technician_reads_but_cannot_choose(self, tech_client_plain, mir122):
        url = reverse("web:assay_efficiency", args=[mir122.pk])
        page = tech_client_plain.get(url)
        assert page.status_code == 200 and "Save the choice" not in page.content.decode()
        assert tech_client_plain.post(url, {"method": "default"}).status_code == 403
        assert not AssayEfficiency.objects.exists()


@pytest.fixture
def tech_client_plain(client, technician):
    client.force_login(technician)
    return client
