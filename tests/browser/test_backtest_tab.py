"""In a real browser: the workflow's Backtest tab runs a backtest over a period and shows
its outcomes, charts and sample leads, with no console errors."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.utils import timezone

from automation.document import document
from automation.models import Backtest, Trigger
from leads.models import Call, Campaign, Lead, List, Status
from tests.browser.test_performance_tab import watch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def workflow(transactional_db):
    """A draft (inactive) workflow, and two sales and a no-answer in the journal."""
    User.objects.create_superuser("boss", "boss@example.com", "pw-boss-1")
    sale = Status.objects.create(code="SALE", name="Sale", reached=True, final=True)
    no_answer = Status.objects.create(code="NA", name="No answer")
    Status.objects.create(code="FOLLOW", name="Follow up")
    lead_list = List.objects.create(name="Solar CA", campaign=Campaign.objects.create(name="Solar"))
    leads = [
        Lead.objects.create(list=lead_list, phone_number=f"+1310555010{i}", first_name="Ada")
        for i in range(3)
    ]
    now = timezone.now()
    for lead, status, days in ((leads[0], sale, 2), (leads[1], sale, 1), (leads[2], no_answer, 1)):
        with time_machine.travel(now - timedelta(days=days), tick=False):
            Call.record(lead=lead, disposition=status)
    return document.save(
        {
            "name": "Sales to follow up",
            "active": False,
            "all_campaigns": True,
            "events": [{"type": "DISPOSITION", "values": ["SALE"]}],
            "action_sets": [
                {
                    "delay": {"mode": "fixed", "hours": 1},
                    "window": "9-5",
                    "actions": [{"type": "STATUS", "config": {"status": "FOLLOW"}}],
                }
            ],
        }
    )


def test_the_backtest_tab_runs_one_and_shows_what_it_would_have_done(
    page, live_server, workflow, shoot
):
    problems = watch(page)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "pw-boss-1")
    page.click("input[type=submit]")
    page.wait_for_selector("#content-main")
    page.goto(f"{live_server.url}/admin/automation/workflow/{workflow.pk}/change/")
    page.click("#tab-button-backtest")
    page.wait_for_selector("#tab-button-backtest.selected")
    assert (
        page.locator("#bt-since").input_value()
        == (timezone.localdate() - timedelta(days=7)).isoformat()
    )
    page.click("#bt-run")
    page.wait_for_selector("#bt-result")
    assert page.locator("#tab-button-backtest.selected").count() == 1
    assert page.locator("#bt-state").inner_text().startswith("done")
    assert page.locator("#bt-progress").get_attribute("value") == "1.0"
    assert page.locator(".bt-outcome[data-outcome=fired]").inner_text() == "fired: 2"
    assert "STATUS: 2" in page.locator(".bt-actions").inner_text()
    assert page.locator("#bt-fired svg.chart rect.bar-fired").count() == 2
    # Due an hour after the sale, moved into the 9-5 window of the lead's zone.
    assert page.locator("#bt-sends svg.chart rect.bar-fired").count() >= 1
    assert page.locator(".bt-sample tbody tr").count() == 2
    assert "rate_limit" in page.locator(".bt-sample tbody tr").first.inner_text()
    assert page.locator("#workflow-performance").is_hidden()  # one tab at a time
    shoot("backtest-tab")
    bt = Backtest.objects.get()
    assert bt.workflow == workflow and bt.status == "done"
    assert not Trigger.objects.exists()  # it stored nothing but its result
    assert not problems, problems
