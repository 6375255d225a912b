"""Where the real instrument exports are, for tests that read them.

The real files are not in the repository (licences, size): they sit in
``../shared/qpcr-exports`` next to the repository root. Tests that need them skip with
a reason in a clone that has no such folder.
"""

from pathlib import Path

import pytest

EXPORTS_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "qpcr-exports"


def real_export(name: str) -> bytes:
    """Bytes of a real export, or skip the calling test when the folder is absent."""
    if not EXPORTS_DIR.is_dir():
        pytest.skip(f"real qPCR exports not found: {EXPORTS_DIR} is absent in this checkout")
    return (EXPORTS_DIR / name).read_bytes()
