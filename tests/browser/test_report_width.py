"""The report, the home page and the run list fit a 1024 px screen: wide tables wrap or
scroll inside their card and figures shrink to it; the page never scrolls sideways."""

from __future__ import annotations

import pytest

from analysis.models import AnalysisPlan

from ..factories import UserFactory
from ..test_analysis_report import FIGURE_NOTES, make_run
from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDE_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="1600pt" height="400pt" '
    'viewBox="0 0 1600 400"><rect width="1600" height="400" fill="#ccc"/></svg>'
)


def test_report_home_and_run_list_fit_1024_px(page, shot):
    UserFactory(username="ana-wide", groups=["analyst"])
    plan = AnalysisPlan.objects.get(name="paper-default")
    run = make_run(plan, figures={"Fig. 3": WIDE_SVG, "Table IV forest": WIDE_SVG})
    assert FIGURE_NOTES["Fig. 3"]["alt"]
    page.set_viewport_size({"width": 1024, "height": 800})
    log_in(page, "ana-wide")
    for url in (
        f"/analysis/runs/{run.pk}/",
        "/",
        "/analysis/",
        f"/analysis/plans/{plan.name}/runs/",
    ):
        page.goto(url)
        width = page.evaluate("document.documentElement.scrollWidth")
        shot(url.strip("/").replace("/", "-") or "home")
        assert width <= 1024, (url, width)
