"""An instrument export kept between its preview and its confirmation.

Nothing reaches the database before the technician confirms, so the bytes wait in
a scratch directory under MEDIA_ROOT, named by their SHA-256, and the session
remembers which file belongs to which plate (and the dye mapping chosen on the
preview of a multiplex file). A rack-scanner file waits the same way for its rack:
`scope` keeps the two kinds of upload apart in the session. Confirming hands the same bytes and mapping to
plate_import_confirm; cancelling, or confirming, deletes the scratch file. Files
older than a day are swept whenever a new one is kept.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

SCRATCH_DIR = "pending-imports"
MAX_AGE = timedelta(days=1)
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class PendingUpload:
    sha256: str
    filename: str
    format: str
    run: str | None
    data: bytes
    dye_assays: dict[str, str] | None = None  # None: the plate's remembered mapping


PLATE_IMPORT = "pending-import"


def _session_key(plate_id: int, scope: str = PLATE_IMPORT) -> str:
    return f"{scope}-{plate_id}"


def _path(sha256: str) -> str:
    if not _SHA256.fullmatch(sha256):  # the name comes from the session: never a path
        raise ValueError("not a SHA-256")
    return f"{SCRATCH_DIR}/{sha256}"


def keep_upload(
    request,
    plate_id: int,
    *,
    data: bytes,
    filename: str,
    format: str,
    run,
    scope: str = PLATE_IMPORT,
):
    """Store the bytes and remember them for this plate (or the object of `scope`) in
    the user's session."""
    _sweep_old_files()
    sha256 = hashlib.sha256(data).hexdigest()
    path = _path(sha256)
    if not default_storage.exists(path):
        default_storage.save(path, ContentFile(data))
    request.session[_session_key(plate_id, scope)] = {
        "sha256": sha256,
        "filename": filename,
        "format": format,
        "run": run,
    }


def pending_upload(request, plate_id: int, scope: str = PLATE_IMPORT) -> PendingUpload | None:
    """The upload waiting for this plate, or None (none, or its file is gone)."""
    kept = request.session.get(_session_key(plate_id, scope))
    if not kept or not _SHA256.fullmatch(str(kept.get("sha256"))):
        return None
    path = _path(kept["sha256"])
    if not default_storage.exists(path):
        return None
    with default_storage.open(path, "rb") as handle:
        data = handle.read()
    mapping = kept.get("dye_assays")
    return PendingUpload(
        kept["sha256"],
        kept["filename"],
        kept["format"],
        kept["run"],
        data,
        mapping if isinstance(mapping, dict) else None,
    )


def keep_dye_mapping(request, plate_id: int, mapping: dict[str, str]) -> None:
    """The dye -> assay mapping chosen on the preview, for the preview and the confirm."""
    key = _session_key(plate_id)
    kept = request.session.get(key)
    if kept:
        request.session[key] = {**kept, "dye_assays": dict(mapping)}


def forget_upload(request, plate_id: int, scope: str = PLATE_IMPORT) -> None:
    kept = request.session.pop(_session_key(plate_id, scope), None)
    if kept and _SHA256.fullmatch(str(kept.get("sha256"))):
        default_storage.delete(_path(kept["sha256"]))


def _sweep_old_files() -> None:
    if not default_storage.exists(SCRATCH_DIR):
        return
    cutoff = timezone.now() - MAX_AGE
    for name in default_storage.listdir(SCRATCH_DIR)[1]:
        path = f"{SCRATCH_DIR}/{name}"
        if default_storage.get_modified_time(path) < cutoff:
            default_storage.delete(path)
