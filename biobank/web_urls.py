"""URLs of the technicians' web pages."""

from django.urls import path

from biobank.views import (
    boxes,
    bulk,
    custody,
    draws,
    efficiency,
    extractions,
    labels,
    lists,
    patients,
    plate_import,
    plates,
    qc,
    rack_scan,
    retrieval,
    rt_products,
    samples,
    search,
    storage_moves,
)

app_name = "web"
urlpatterns = [
    path("draws/", lists.draw_list, name="draw_list"),
    path("draws/export.csv", lists.draw_list_csv, name="draw_list_csv"),
    path("draws/new/", draws.draw_register, name="draw_register"),
    path("draws/<int:pk>/aliquot/", draws.draw_aliquot, name="draw_aliquot"),
    path("draws/<int:pk>/labels/", labels.draw_labels, name="draw_labels"),
    path("labels/barcode.svg", labels.barcode_image, name="barcode_image"),
    path("search/", search.search_page, name="search"),
    path("patients/", lists.patient_list, name="patient_list"),
    path("patients/export.csv", lists.patient_list_csv, name="patient_list_csv"),
    path("patients/<str:study_id>/", patients.patient_detail, name="patient_detail"),
    path("samples/", lists.sample_list, name="sample_find"),
    path("samples/export.csv", lists.sample_list_csv, name="sample_list_csv"),
    path("samples/bulk/", bulk.samples_bulk, name="samples_bulk"),
    path("samples/<int:pk>/", samples.sample_detail, name="sample_detail"),
    path("samples/<int:pk>/label/", labels.tube_label, name="tube_label"),
    path("samples/<int:pk>/custody.csv", custody.custody_timeline_csv, name="sample_custody_csv"),
    path("samples/<int:pk>/custody.pdf", custody.custody_timeline_pdf, name="sample_custody_pdf"),
    path("custody-events/<int:pk>/void/", custody.custody_event_void, name="custody_event_void"),
    path(
        "samples/<int:pk>/check-out/",
        samples.sample_reason_action,
        {"action": "check-out"},
        name="sample_check_out",
    ),
    path(
        "samples/<int:pk>/thaw/",
        samples.sample_reason_action,
        {"action": "thaw"},
        name="sample_thaw",
    ),
    path(
        "samples/<int:pk>/discard/",
        samples.sample_reason_action,
        {"action": "discard"},
        name="sample_discard",
    ),
    path(
        "samples/<int:pk>/check-in/",
        samples.sample_place_action,
        {"action": "check-in"},
        name="sample_check_in",
    ),
    path(
        "samples/<int:pk>/move/",
        samples.sample_place_action,
        {"action": "move"},
        name="sample_move",
    ),
    path("requests/", retrieval.request_list, name="request_list"),
    path("requests/new/", retrieval.request_new, name="request_new"),
    path("requests/<int:pk>/", retrieval.request_detail, name="request_detail"),
    path("requests/<int:pk>/pick-list/", retrieval.request_pick_list, name="request_pick_list"),
    path(
        "requests/<int:pk>/pick-list.pdf",
        retrieval.request_pick_list_pdf,
        name="request_pick_list_pdf",
    ),
    path("samples/<int:pk>/hold/", retrieval.legal_hold_new, name="legal_hold_new"),
    path("holds/<int:pk>/release/", retrieval.legal_hold_release, name="legal_hold_release"),
    path("boxes/", boxes.box_list, name="box_list"),
    path("boxes/<int:pk>/", boxes.box_detail, name="box_detail"),
    path("boxes/<int:pk>/move/", storage_moves.storage_move, {"kind": "box"}, name="box_move"),
    path("racks/<int:pk>/move/", storage_moves.storage_move, {"kind": "rack"}, name="rack_move"),
    path(
        "freezers/<int:pk>/evacuate/",
        storage_moves.storage_move,
        {"kind": "freezer"},
        name="freezer_evacuate",
    ),
    path("boxes/<int:pk>/scan/", rack_scan.rack_scan_upload, name="rack_scan_upload"),
    path("boxes/<int:pk>/scan/preview/", rack_scan.rack_scan_review, name="rack_scan_preview"),
    path("boxes/<int:pk>/scan/cancel/", rack_scan.rack_scan_cancel, name="rack_scan_cancel"),
    path("rack-scans/", rack_scan.rack_scan_find, name="rack_scan_find"),
    path("extractions/new/", extractions.isolation_batch_record, name="isolation_batch_record"),
    path(
        "extractions/<int:pk>/", extractions.isolation_batch_detail, name="isolation_batch_detail"
    ),
    path("extractions/<int:pk>/rna/", extractions.isolation_batch_rna, name="isolation_batch_rna"),
    path("extractions/<int:pk>/rt/", extractions.isolation_batch_rt, name="isolation_batch_rt"),
    path("rna/scan/", extractions.rna_scan, name="rna_scan"),
    path("rt/scan/", extractions.rt_scan, name="rt_scan"),
    path("rt/labels/", rt_products.rt_labels, name="rt_labels"),
    path("rt/<int:pk>/", rt_products.rt_product_detail, name="rt_product_detail"),
    path("plates/", plates.plate_list, name="plate_list"),
    path("plates/new/", plates.plate_setup, name="plate_setup"),
    path("plates/rdml/", plates.study_rdml, name="study_rdml"),
    path("plates/<int:pk>/", plates.plate_detail, name="plate_detail"),
    path("plates/<int:pk>/rdml/", plates.plate_rdml, name="plate_rdml"),
    path("plates/<int:pk>/miqe/", plates.plate_miqe, name="plate_miqe"),
    path("plates/<int:pk>/miqe.csv", plates.plate_miqe, name="plate_miqe_csv"),
    path("plates/<int:pk>/layout/", plates.plate_edit, name="plate_edit"),
    path(
        "plates/<int:pk>/sample-sheet/<slug:instrument>/",
        plates.plate_sample_sheet,
        name="plate_sample_sheet",
    ),
    path("plates/<int:pk>/import/", plate_import.plate_import, name="plate_import"),
    path(
        "plates/<int:pk>/import/preview/",
        plate_import.plate_import_review,
        name="plate_import_preview",
    ),
    path(
        "plates/<int:pk>/import/cancel/",
        plate_import.plate_import_cancel,
        name="plate_import_cancel",
    ),
    path(
        "plates/<int:pk>/imports/<int:import_pk>/revert/",
        plate_import.plate_import_revert_page,
        name="plate_import_revert",
    ),
    path("plates/<int:pk>/qc/", qc.plate_qc_page, name="plate_qc"),
    path("assays/efficiency/", efficiency.assay_efficiency_list, name="assay_efficiency_list"),
    path("assays/<int:pk>/efficiency/", efficiency.assay_efficiency_page, name="assay_efficiency"),
    path(
        "plates/<int:pk>/standard-curves.svg",
        qc.plate_standard_curves_svg,
        name="plate_standard_curves_svg",
    ),
]

# A request's decision buttons: /requests/<pk>/submit/, approve/, reject/, cancel/.
urlpatterns += [
    path(
        f"requests/<int:pk>/{action}/",
        retrieval.request_action,
        {"action": action},
        name=f"request_{action}",
    )
    for action in ("submit", "approve", "reject", "cancel")
]
