"""Fixtures for the instrument-export tests: where the real exports are.

The real files are not in the repository (licences, size): they sit in
``../shared/qpcr-exports`` next to the repository root, and tests that need them skip
with a reason in a clone that has no such folder.
"""

from collections.abc import Callable
from pathlib import Path

import pytest

EXPORTS_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "qpcr-exports"


def real_export(name: str) -> bytes:
    """Bytes of a real export, or skip the calling test when the folder is absent."""
    if not EXPORTS_DIR.is_dir():
        pytest.skip(f"real qPCR exports not found: {EXPORTS_DIR} is absent in this checkout")
    return (EXPORTS_DIR / name).read_bytes()


@pytest.fixture
def export_bytes() -> Callable[[str], bytes]:
    return real_export
