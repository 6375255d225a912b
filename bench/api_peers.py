"""The peer of the API's aliquot and well lists in bench/api_load.py: the same rows,
the same checks, no framework. Served by the same gunicorn workers as the API (this
WSGI application hands every other path to biobank.wsgi), so each list's figure has
its limit beside it, measured in the same run on the same machine.

    GET /peer/raw/aliquots/?after=<barcode>|<id>    50 aliquots after that one
    GET /peer/raw/wells/?after=<plate_id>|<row>|<column>|<id>

One query checks the token and the user's view permission (as the API's one query
does), one reads the page by keyset with the joins the API's list makes; the rows are
written as JSON with the API's keys (no SPREC code). Bench only: never deployed.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from urllib.parse import parse_qs

from django.db import connection  # noqa: E402

from biobank.wsgi import application as api  # sets Django up

PAGE = 50
ALLOWED = """
SELECT EXISTS (
  SELECT 1 FROM authtoken_token t JOIN auth_user u ON u.id = t.user_id AND u.is_active
  JOIN auth_user_groups ug ON ug.user_id = u.id
  JOIN auth_group_permissions gp ON gp.group_id = ug.group_id
  JOIN auth_permission p ON p.id = gp.permission_id AND p.codename = %s
  WHERE t.key = %s)
"""
ALIQUOTS = """
SELECT a.id, a.barcode, a.draw_id AS draw, pt.study_id, d.timepoint, a.initial_volume_ul,
       a.volume_ul, a.freeze_thaw_count, a.status, a.box_id AS box, a.row, a."column",
       a.created_at, b.barcode AS box_barcode, b.name AS box_name, r.name AS rack_name,
       f.name AS freezer_name
FROM biobank_aliquot a
JOIN biobank_serumdraw d ON d.id = a.draw_id JOIN biobank_patient pt ON pt.id = d.patient_id
LEFT JOIN biobank_box b ON b.id = a.box_id LEFT JOIN biobank_rack r ON r.id = b.rack_id
LEFT JOIN biobank_freezer f ON f.id = r.freezer_id
WHERE (a.barcode, a.id) > (%s, %s) ORDER BY a.barcode, a.id LIMIT %s
"""
WELLS = """
SELECT w.id, w.plate_id AS plate, pl.barcode AS plate_barcode, w.row, w."column", w.kind,
       w.sample_id AS sample, rt.code AS sample_code, pt.study_id, d.timepoint,
       w.assay_id AS assay, a.target, w.replicate, w.cq, w.excluded, w.exclusion_reason,
       u.username AS excluded_by, w.excluded_at, w.imported_from_id AS imported_from
FROM biobank_well w
JOIN biobank_qpcrplate pl ON pl.id = w.plate_id JOIN biobank_assay a ON a.id = w.assay_id
LEFT JOIN biobank_reversetranscription rt ON rt.id = w.sample_id
LEFT JOIN biobank_rnaisolation rna ON rna.id = rt.rna_id
LEFT JOIN biobank_exosomeisolation iso ON iso.id = rna.isolation_id
LEFT JOIN biobank_aliquot al ON al.id = iso.aliquot_id
LEFT JOIN biobank_serumdraw d ON d.id = al.draw_id
LEFT JOIN biobank_patient pt ON pt.id = d.patient_id
LEFT JOIN auth_user u ON u.id = w.excluded_by_id
WHERE (w.plate_id, w.row, w."column", w.id) > (%s, %s, %s, %s)
ORDER BY w.plate_id, w.row, w."column", w.id LIMIT %s
"""
LISTS = {
    "/peer/raw/aliquots/": ("view_aliquot", ALIQUOTS, ("", 0)),
    "/peer/raw/wells/": ("view_well", WELLS, (0, 0, 0, 0)),
}


def plain(value):
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(type(value))


def application(environ, start_response):
    route = LISTS.get(environ.get("PATH_INFO", ""))
    if route is None:
        return api(environ, start_response)
    permission, sql, start = route
    token = environ.get("HTTP_AUTHORIZATION", "").removeprefix("Token ")
    with connection.cursor() as cursor:
        cursor.execute(ALLOWED, [permission, token])
        if not cursor.fetchone()[0]:
            start_response("403 Forbidden", [("Content-Type", "application/json")])
            return [b'{"detail": "forbidden"}']
        after = parse_qs(environ.get("QUERY_STRING", "")).get("after")
        keys = after[0].split("|") if after else start
        cursor.execute(sql, [*keys, PAGE + 1])
        columns = [column.name for column in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    body = json.dumps(
        {"next": len(rows) > PAGE, "previous": None, "results": rows[:PAGE]}, default=plain
    ).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
