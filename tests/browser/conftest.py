"""Playwright (sync API) driving Debian's Chromium against pytest-django's live server.

Screenshots go to artifacts/screenshots/. Playwright's sync API runs an event
loop in this thread, which trips Django's async-unsafe check on every ORM
call the test makes: the variable below turns that check off (tests only).
"""

import os
import shutil
from pathlib import Path

import pytest

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def chromium():
    if not shutil.which(CHROMIUM):
        # CI must run these: there a missing browser is a failure, not a skip.
        (pytest.fail if os.getenv("CI") else pytest.skip)(
            f"{CHROMIUM} is not installed (make browser)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def shoot(page):
    """shoot("01-general") saves a full-page screenshot."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name):
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    return take
