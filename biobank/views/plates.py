"""qPCR plates: the list, setting one up (auto-fill or empty), its printable map, which
is also the editor while the plate is laid out (place, move, clear), and its layout as
the instruments' sample sheets."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from biobank.forms.errors import add_service_errors
from biobank.forms.plates import PlatePlacementForm, PlateSetupForm
from biobank.instruments import sample_sheets
from biobank.labels.barcodes import svg
from biobank.models import Well
from biobank.selectors import miqe, rdml_export
from biobank.selectors.plates import (
    layout_is_open,
    plate_map,
    plate_with_counts,
    plates_with_counts,
    rt_products_not_on_a_plate,
    sample_sheet_wells,
)
from biobank.services.plate_setup import plate_set_up
from biobank.services.plates import plate_clear, plate_move, plate_place

from .access import needs

EDIT_PERMISSIONS = ("biobank.add_well", "biobank.change_well")


def plate_or_404(pk: int):
    plate = plate_with_counts(pk)
    if plate is None:
        raise Http404("No such plate")
    return plate


@needs("biobank.view_qpcrplate")
def plate_list(request):
    return render(request, "web/plate_list.html", {"plates": plates_with_counts()})


@needs("biobank.add_qpcrplate", "biobank.add_well")
def plate_setup(request):
    # ?samples= prefills the RT codes (the extraction batch page's "Lay out a plate").
    form = PlateSetupForm(request.POST or None, initial={"samples": request.GET.get("samples", "")})
    if request.method == "POST" and form.is_valid():
        try:
            plate = plate_set_up(operator=request.user, **form.service_arguments())
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            if form.cleaned_data["by_hand"]:
                messages.success(request, f"Plate {plate.barcode} created: lay it out below.")
            else:
                messages.success(request, f"Plate {plate.barcode} laid out. Print its map.")
            return redirect("web:plate_detail", pk=plate.pk)
    return render(request, "web/plate_setup.html", {"form": form})


def _detail(request, plate, form: PlatePlacementForm | None = None):
    editable = layout_is_open(plate) and request.user.has_perms(EDIT_PERMISSIONS)
    if editable and form is None:
        # After a placement the same sample, kind and assays stay chosen for the next.
        form = PlatePlacementForm(initial=_carried(request.GET))
    plate_map_ = plate_map(plate)
    n_dyes = len(plate_map_.assays) if plate_map_.n_multiplex else 1
    return render(
        request,
        "web/plate_detail.html",
        {
            "plate": plate,
            "map": plate_map_,
            "editable": editable,
            "form": form if editable else None,
            "recent_rt_products": rt_products_not_on_a_plate() if editable else [],
            "cfx_dyes": [(n, sample_sheets.CFX_DYES[n]) for n in range(min(n_dyes, 4))],
            # reportlab's SVG escapes the text it draws, so it is safe to inline.
            "barcode_svg": mark_safe(svg(plate.barcode, height_px=40, caption=True)),
        },
    )


def _carried(query) -> dict:
    return {
        "kind": query.get("kind") or Well.Kind.SAMPLE,
        "sample": query.get("sample", ""),
        "assays": query.getlist("assays"),
    }


@needs("biobank.view_qpcrplate", "biobank.view_well")
def plate_detail(request, pk: int):
    """The plate map: what goes in each well, to pipette from and to print; while the
    plate is laid out, also where a technician places, moves and clears wells."""
    return _detail(request, plate_or_404(pk))


@require_POST
@needs("biobank.view_qpcrplate", *EDIT_PERMISSIONS)
def plate_edit(request, pk: int):
    """One edit of the layout through the services; on a refusal the map comes back
    with the message beside the field and nothing changed."""
    plate = plate_or_404(pk)
    form = PlatePlacementForm(request.POST)
    if not form.is_valid():
        return _detail(request, plate, form)
    data = form.cleaned_data
    try:
        if data["action"] == form.MOVE:
            source, target = data["positions"]
            plate_move(plate=plate, source=source, target=target)
            done = f"Moved {source} to {target}."
        elif data["action"] == form.CLEAR:
            n = plate_clear(plate=plate, positions=data["positions"])
            done = f"Cleared {len(data['positions'])} positions ({n} wells)."
        else:
            wells = plate_place(
                plate=plate,
                positions=data["positions"],
                assays=list(data["assays"]),
                kind=data["kind"],
                sample=data["sample"],
                quantity=data.get("quantity"),
                quantity_unit="copies" if data.get("quantity") is not None else "",
            )
            what = data["sample"].code if data["sample"] else "NTC"
            if data["kind"] == Well.Kind.STANDARD:
                what = f"standard {data['quantity']:g}" if data.get("quantity") else "a standard"
            done = f"Placed {what} in {len(data['positions'])} positions ({len(wells)} wells)."
    except ValidationError as error:
        if "plate" in getattr(error, "error_dict", {}):
            # The layout is closed (results imported meanwhile): the page has no editor
            # to show the message in, so it comes as a message above the map.
            for message in error.message_dict["plate"]:
                messages.error(request, message)
            return redirect("web:plate_detail", pk=plate.pk)
        add_service_errors(form, error, fields={"source": "positions", "target": "positions"})
        return _detail(request, plate, form)
    messages.success(request, done)
    url = reverse("web:plate_detail", args=[plate.pk])
    if data["action"] == form.PLACE:
        carried = {"kind": data["kind"], "assays": [a.pk for a in data["assays"]]}
        if data["sample"]:
            carried["sample"] = data["sample"].code
        url += "?" + urlencode(carried, doseq=True)
    return redirect(url)


SHEETS = {
    "lc480": ("lc480-sample-information.txt", "text/plain"),
    "abi": ("abi-plate-setup.txt", "text/plain"),
    "cfx": ("cfx-plate-setup.csv", "text/csv"),
}


@needs("biobank.view_qpcrplate", "biobank.view_well")
def plate_sample_sheet(request, pk: int, instrument: str):
    """The layout as an instrument's sample sheet, to import before the run."""
    if instrument not in SHEETS:
        raise Http404("No such sample sheet")
    plate = plate_or_404(pk)
    try:
        wells = sample_sheet_wells(plate)
    except ValueError as error:
        messages.error(request, str(error))
        return redirect("web:plate_detail", pk=plate.pk)
    if not wells:
        messages.error(request, f"Plate {plate.barcode} has no wells yet: lay it out first.")
        return redirect("web:plate_detail", pk=plate.pk)
    suffix, content_type = SHEETS[instrument]
    try:
        if instrument == "lc480":
            data = sample_sheets.lc480_sample_information(wells)
        elif instrument == "abi":
            data = sample_sheets.abi_plate_setup(
                wells, plate_size=plate.plate_format, experiment_name=plate.barcode
            )
        else:
            slot = request.GET.get("dye", "0")
            if slot not in {str(n) for n in sample_sheets.cfx_dye_slots(wells)}:
                raise Http404("No wells are read in that fluor")
            data = sample_sheets.cfx_plate_setup(wells, dye_slot=int(slot))
            fluor = sample_sheets.CFX_DYES[int(slot)].replace(" ", "-")
            suffix = f"cfx-plate-setup-{fluor}.csv"
    except sample_sheets.SampleSheetError as error:
        messages.error(request, str(error))
        return redirect("web:plate_detail", pk=plate.pk)
    response = HttpResponse(data, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{plate.barcode}-{suffix}"'
    return response


def _rdml(data: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@needs("biobank.view_qpcrplate", "biobank.view_well")
def plate_rdml(request, pk: int):
    """The plate as RDML 1.3, for qbase+, LinRegPCR, RDML-Tools or a journal's reviewers."""
    plate = plate_or_404(pk)
    return _rdml(rdml_export.plate_rdml(plate), f"{plate.barcode}.rdml")


@needs("biobank.view_qpcrplate", "biobank.view_well")
def study_rdml(request):
    """Every plate that holds wells in one RDML file, one run per plate."""
    return _rdml(rdml_export.study_rdml(), "exotrack-plates.rdml")


def miqe_response(request, items, *, subject: str, csv_url: str, back_url: str, filename: str):
    """The checklist as a page, as a standalone HTML file (?download=1) or as CSV."""
    from django.utils import timezone

    if request.path.endswith(".csv"):
        response = HttpResponse(miqe.miqe_csv(items), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
        return response
    standalone = request.GET.get("download") == "1"
    counts = {
        "filled": sum(i.status == miqe.FILLED for i in items),
        "partly": sum(i.status == miqe.PARTLY for i in items),
        "user": sum(i.status == miqe.USER for i in items),
    }
    response = render(
        request,
        "web/miqe.html",
        {
            "items": items,
            "subject": subject,
            "counts": counts,
            "citation": miqe.CITATION,
            "csv_url": csv_url,
            "back_url": back_url,
            "standalone": standalone,
            "made_at": timezone.now(),
        },
    )
    if standalone:
        response["Content-Disposition"] = f'attachment; filename="{filename}.html"'
    return response


@needs("biobank.view_qpcrplate", "biobank.view_well")
def plate_miqe(request, pk: int):
    """The plate's MIQE 2.0 checklist, what ExoTrack cannot know marked for the user."""
    plate = plate_or_404(pk)
    return miqe_response(
        request,
        miqe.plate_miqe(plate),
        subject=f"plate {plate.barcode}",
        csv_url=reverse("web:plate_miqe_csv", args=[plate.pk]),
        back_url=reverse("web:plate_detail", args=[plate.pk]),
        filename=f"{plate.barcode}-miqe",
    )
