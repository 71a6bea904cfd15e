"""In a real browser: the workflow's Performance tab renders its charts, with no console errors."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from automation.insight import rollups
from automation.models import Action, ActionSet, LogEntry, Trigger, Workflow
from leads.models import Campaign, Lead, List

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def workflow(transactional_db):
    User.objects.create_superuser("boss", "boss@example.com", "pw-boss-1")
    lead_list = List.objects.create(name="Solar CA", campaign=Campaign.objects.create(name="Solar"))
    lead = Lead.objects.create(list=lead_list, phone_number="+13105550100", first_name="Ada")
    workflow = Workflow.objects.create(name="Sale SMS", all_campaigns=True)
    action = Action.objects.create(
        action_set=ActionSet.objects.create(workflow=workflow), type="SMS", config={"text": "hi"}
    )
    now = timezone.now()
    for hours, outcome in ((5, "fired"), (3, "fired"), (3, "rate_limited"), (1, "not_selected")):
        Trigger.objects.create(
            workflow=workflow, lead_id=lead.pk, outcome=outcome,
            occurred_at=now - timedelta(hours=hours),
        )  # fmt: skip
    for hours, state in ((5, "succeeded"), (3, "failed"), (1, "skipped")):
        due = now - timedelta(hours=hours)
        LogEntry.objects.create(
            workflow=workflow, action=action, lead_id=lead.pk, action_type="SMS", state=state,
            reason="http 503: down" if state == "failed" else "", due_at=due,
            started_at=due + timedelta(seconds=20), finished_at=due + timedelta(seconds=21),
        )  # fmt: skip
    rollups.fold(now)
    return workflow


def watch(page):
    """Console errors and warnings, and uncaught exceptions, of the page's own code. The
    browser's request for /favicon.ico (the admin has none: a 404) is not one."""
    problems = []

    def console(message):
        if message.type in ("error", "warning") and "favicon.ico" not in message.location["url"]:
            problems.append(f"{message.text} ({message.location['url']})")

    page.on("console", console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    return problems


def test_the_performance_tab_renders_its_charts_without_console_errors(
    page, live_server, workflow, shoot
):
    problems = watch(page)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "pw-boss-1")
    page.click("input[type=submit]")
    page.wait_for_selector("#content-main")
    page.goto(f"{live_server.url}/admin/automation/workflow/{workflow.pk}/change/")
    page.click("#tab-button-performance")
    page.wait_for_selector("#tab-button-performance.selected")
    chart = page.locator("#perf-outcomes svg.chart")
    chart.wait_for(state="visible")
    box = chart.bounding_box()
    assert box["width"] > 300 and box["height"] > 100
    assert page.locator("#perf-outcomes rect.bar-fired").count() == 2
    assert page.locator("#perf-outcomes rect.bar-rate_limited").count() == 1
    assert page.locator(".perf-action svg.chart-bars rect.bar-failed").count() == 1
    assert page.locator(".perf-action svg.chart-line circle.dot").count() == 3
    assert page.locator("#workflow-logs").is_hidden()  # one tab at a time
    shoot("performance-tab")
    page.click(".perf-reasons a")
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list tbody tr").count() == 1
    assert problems == []


def test_the_index_overview_renders(page, live_server, workflow):
    problems = watch(page)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "pw-boss-1")
    page.click("input[type=submit]")
    page.wait_for_selector("#workflows-overview")
    assert "Sale SMS" in page.locator("#workflows-overview").inner_text()
    assert problems == []
