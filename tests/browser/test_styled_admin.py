"""The admin as `make run` serves it (DEBUG off, gunicorn, static files from WhiteNoise):
styled, and the workflow page's tabs work. Runs against tests/stack.py's real processes."""

import re

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.cluster]


def log_in(page, demo_stack):
    page.goto(demo_stack.url("/admin/login/"))
    page.fill("#id_username", "admin")
    page.fill("#id_password", "admin")
    page.click("input[type=submit]")
    page.wait_for_selector("#content-main")


def test_the_admin_is_styled_with_debug_off(page, shoot, demo_stack):
    failed = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    log_in(page, demo_stack)

    sheets = page.evaluate("[...document.styleSheets].map(s => s.href).filter(Boolean)")
    header = page.evaluate(
        "(() => { const s = getComputedStyle(document.getElementById('header'));"
        " return [s.backgroundColor, s.display]; })()"
    )
    shoot("stack-01-admin-index")

    assert any(re.search(r"/static/admin/css/base\.[0-9a-f]{12}\.css$", h) for h in sheets), sheets
    # base.css paints the header (--header-bg); unstyled, it would be transparent.
    assert header[0] not in ("rgba(0, 0, 0, 0)", "transparent"), header
    assert failed == []


def test_the_workflow_pages_tabs_work(page, shoot, demo_stack):
    log_in(page, demo_stack)
    page.goto(demo_stack.url("/admin/automation/workflow/"))
    page.click("text=Do-not-call request: add to the DNC list")
    page.wait_for_selector("#tab-button-general.selected")

    assert page.is_visible("#id_name")
    assert not page.is_visible("#id_events-0-DISPOSITION__values")
    page.click("#tab-button-events")
    page.wait_for_selector("#tab-button-events.selected")
    assert page.is_visible("#id_events-0-DISPOSITION__values")
    assert not page.is_visible("#id_name")
    shoot("stack-02-workflow-events-tab")
    page.click("#tab-button-logs")
    page.wait_for_selector("#tab-button-logs.selected")
    assert not page.is_visible("#id_events-0-DISPOSITION__values")
