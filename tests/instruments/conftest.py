"""Fixtures for the instrument-export tests (no database needed)."""

from collections.abc import Callable

import pytest

from .exports import real_export


@pytest.fixture
def export_bytes() -> Callable[[str], bytes]:
    """``export_bytes(name)``: a real export's bytes; skips when ../shared is absent."""
    return real_export
