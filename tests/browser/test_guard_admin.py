"""In a real browser: a contact policy and a calling rule made in the admin (with a field
error on the way), then the workflow's dry run page showing the send-time checks."""

import pytest
from django.contrib.auth.models import User

from automation.models import (
    Action,
    ActionSet,
    CallingRule,
    ContactPolicy,
    EventCondition,
    Workflow,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def boss(transactional_db):
    return User.objects.create_superuser("boss", "boss@example.com", "pw-boss-1")


def log_in(page, live_server):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "pw-boss-1")
    page.click("input[type=submit]")
    page.wait_for_selector("#content-main")


def test_an_operator_sets_up_the_guard_and_sees_it_in_the_dry_run(
    page, live_server, boss, make_lead, shoot
):
    log_in(page, live_server)

    # A default SMS budget.
    page.goto(f"{live_server.url}/admin/automation/contactpolicy/add/")
    page.select_option("#id_channel", "sms")
    page.fill("#id_max_per_24h", "1")
    page.select_option("#id_over_budget", "skip")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    assert ContactPolicy.objects.get().max_per_24h == 1

    # A Texas calling rule: a typo first, shown on its weekday.
    page.goto(f"{live_server.url}/admin/automation/callingrule/add/")
    page.fill("#id_name", "Texas")
    page.fill("#id_state", "TX")
    for day in range(7):
        page.fill(f"#id_day_{day}", "closed")
    page.fill("#id_day_2", "9am-5pm")
    page.click("input[name=_save]")
    error = page.locator(".field-day_2 .errorlist")
    assert "'9am' is not a time HH:MM" in error.inner_text()
    shoot("guard-01-calling-rule-error")
    page.fill("#id_day_2", "closed")
    page.fill("#id_blocked_dates_text", "2026-12-25")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    assert "Mon closed" in page.locator("#result_list").inner_text()
    rule = CallingRule.objects.get()
    assert rule.hours == {str(d): None for d in range(7)}

    # The dry run of an SMS workflow for a Texan: the calling rule never opens.
    workflow = Workflow.objects.create(name="Text them", all_campaigns=True)
    EventCondition.objects.create(
        workflow=workflow, type="LEAD_ACTION", config={"values": ["save"]}
    )
    action_set = ActionSet.objects.create(workflow=workflow)
    Action.objects.create(action_set=action_set, type="SMS", config={"message": "Hi"})
    lead = make_lead(state="TX", timezone="America/Chicago")
    page.goto(f"{live_server.url}/admin/automation/workflow/{workflow.pk}/dry-run/?lead={lead.pk}")
    page.wait_for_selector("table.dry-run-send-time")
    checks = page.locator("table.dry-run-send-time").inner_text()
    for name in ("workflow", "window", "dnc", "calling_rules", "contact_budget", "live_call"):
        assert name in checks
    assert 'calling rule "Texas" (state TX)' in checks
    assert "would be skipped" in page.locator(".send-time-decision").inner_text()
    shoot("guard-02-dry-run-checks")
