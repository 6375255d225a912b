"""Headless Chromium (Debian's, driven by Playwright) against pytest-django's live server.

Playwright's own browser download does not work here, so the tests use the
system Chromium at /usr/bin/chromium (CI installs it with apt-get) and are
skipped, saying why, where it is missing. Every test saves a screenshot of each
page it reaches under tests/screenshots/ (git-ignored) for a reviewer to look at.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.apps import apps

from biobank.roles import sync_role_groups

# Playwright's sync API runs an asyncio loop in this thread; Django refuses ORM calls
# from a thread with a running loop unless told that this one is safe.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "screenshots"
PASSWORD = "pw"  # tests.factories.UserFactory's


@pytest.fixture(scope="session")
def chromium():
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install it with `apt-get install chromium`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def role_groups(transactional_db):
    """A transactional test empties the database when it ends, the role groups with it;
    put them back (as the data migration made them) before each test."""
    sync_role_groups(apps)


@pytest.fixture(autouse=True)
def scratch_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def page(chromium, live_server):
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1360, "height": 900}
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def shot(page, request):
    """shot('step') saves tests/screenshots/<test>-<step>.png of the whole page."""
    SCREENSHOTS.mkdir(exist_ok=True)
    test = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name).strip("-")

    def take(step: str) -> Path:
        path = SCREENSHOTS / f"{test}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def log_in(page, username: str) -> None:
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.press("#id_password", "Enter")
    page.wait_for_url("**/")
