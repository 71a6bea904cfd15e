"""End to end in a real browser: build a workflow through the tabs, fire it with a
call recorded through the REST API, read its log, flush a pending action."""

import re
from datetime import timedelta

import pytest
import requests
from django.contrib.auth.models import User
from django.utils import timezone

from automation.constants import EntryState
from automation.models import Endpoint, LogEntry, Workflow
from tests import httpserver
from tests.httpserver import Reply

http_server = httpserver.http_server  # the fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def boss(transactional_db):
    return User.objects.create_superuser("boss", "boss@example.com", "pw-boss-1")


@pytest.fixture
def hook(http_server):
    http_server.handler = lambda received: Reply(
        200, '{"ok": true}', {"Content-Type": "application/json"}
    )
    return Endpoint.objects.create(name="Local hook", url=http_server.url("/hook"))


def log_in(page, live_server):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "pw-boss-1")
    page.click("input[type=submit]")
    page.wait_for_selector("#content-main")


def show_tab(page, key):
    page.click(f"#tab-button-{key}")
    page.wait_for_selector(f"#tab-button-{key}.selected")


def add_action(page, index, action_type, fill):
    page.click("#actions-group .add-row a")
    page.select_option(f"#id_actions-{index}-type", action_type)
    fill(f"#id_actions-{index}-{action_type}__")


def record_sale(live_server, lead):
    token = requests.post(
        f"{live_server.url}/api/v1/auth/token/",
        data={"username": "boss", "password": "pw-boss-1"},
        timeout=10,
    ).json()["token"]
    started = timezone.now() - timedelta(minutes=2)
    response = requests.post(
        f"{live_server.url}/api/v1/calls/",
        json={
            "lead": lead.pk,
            "disposition": "SALE",
            "call_type": "OUTBOUND",
            "started_at": started.isoformat(),
            "ended_at": (started + timedelta(seconds=90)).isoformat(),
            "length": 90,
            "external_id": "dialer-1",
        },
        headers={"Authorization": f"Token {token}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text


def test_an_operator_builds_fires_reads_and_flushes_a_workflow(
    page, shoot, live_server, boss, hook, http_server, make_lead
):
    lead = make_lead(timezone="America/Chicago")
    log_in(page, live_server)

    # General, Stop & Safeguards, Schedule, Events: one form in tabs.
    page.goto(f"{live_server.url}/admin/automation/workflow/add/")
    page.fill("#id_name", "Sale follow-up")
    page.check("#id_all_campaigns")
    shoot("01-general")
    show_tab(page, "stop")
    assert page.is_visible("text=9 triggers per lead per 3 minutes")
    assert not page.is_visible("#id_name")
    shoot("02-stop-and-safeguards")
    show_tab(page, "schedule")
    shoot("03-schedule")
    show_tab(page, "events")
    page.click("#events-group .add-row a")
    page.select_option("#id_events-0-type", "DISPOSITION")
    assert page.is_visible("#id_events-0-DISPOSITION__values")
    assert not page.is_visible("#id_events-0-LEAD_FIELDS__field")
    page.select_option("#id_events-0-DISPOSITION__values", ["SALE"])
    shoot("04-events")
    show_tab(page, "actions")
    shoot("05-actions-before-save")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    workflow = Workflow.objects.get(name="Sale follow-up")
    assert workflow.events.get().config == {"values": ["SALE"]}

    # An immediate action set: STATUS → FOLLOW, then INTEGRATION to the local hook.
    show_tab(page, "actions")
    page.click("a.add-action-set")
    page.wait_for_selector("#actions-group")
    add_action(page, 0, "STATUS", lambda p: page.select_option(p + "status", "FOLLOW"))
    add_action(page, 1, "INTEGRATION", lambda p: page.select_option(p + "endpoint", "Local hook"))
    assert page.is_visible("text=Convoso Connect")
    shoot("06-action-set-immediate")
    page.click("input[name=_return_to_workflow]")
    page.wait_for_selector("#tab-button-actions.selected")

    # A bad config is refused with the error next to its field.
    page.click("a.add-action-set")
    page.wait_for_selector("#actions-group")
    page.select_option("#id_delay_mode", "fixed")
    page.fill("#id_delay_days", "1")
    add_action(page, 0, "FIELD", lambda p: (
        page.fill(p + "field", "called_count"), page.select_option(p + "op", "divide"),
        page.fill(p + "value", "0"),
    ))  # fmt: skip
    page.click("input[name=_return_to_workflow]")
    error = page.locator(".typed-config-FIELD .errorlist").first
    error.wait_for()
    assert "cannot divide by zero" in error.inner_text()
    shoot("07-validation-error")

    # Fixed: a day later, set the state (stays pending: the one we will flush).
    page.select_option("#id_actions-0-FIELD__op", "set")
    page.fill("#id_actions-0-FIELD__field", "state")
    page.fill("#id_actions-0-FIELD__value", "NV")
    page.click("input[name=_return_to_workflow]")
    page.wait_for_selector("#tab-button-actions.selected")
    shoot("08-actions")
    assert workflow.action_sets.count() == 2

    # A sale recorded through the REST API fires the workflow.
    record_sale(live_server, lead)
    http_server.wait_for_requests(1, timeout=15)
    entries = {e.action_type: e for e in LogEntry.objects.filter(workflow=workflow)}
    assert set(entries) == {"STATUS", "INTEGRATION", "FIELD"}
    assert entries["STATUS"].state == EntryState.SUCCEEDED
    assert entries["FIELD"].state == EntryState.PENDING
    lead.refresh_from_db()
    assert lead.status_id == "FOLLOW"

    # The Logs tab, then the global list filtered by lead.
    page.goto(f"{live_server.url}/admin/automation/workflow/")
    page.click("text=Sale follow-up")
    show_tab(page, "logs")
    assert page.locator("#workflow-logs .log-table tbody tr").count() >= 3
    shoot("09-logs")
    page.click("text=All log entries of this workflow")
    page.fill("input[name=lead]", str(lead.pk))
    page.locator("input[name=lead]").press("Enter")
    page.wait_for_url(re.compile(rf"lead={lead.pk}"))
    assert page.locator("#result_list tbody tr").count() == 3
    shoot("10-log-list-by-lead")

    # Flush the pending one through the confirmation page.
    page.check(f"input[name=_selected_action][value='{entries['FIELD'].pk}']")
    page.select_option("select[name=action]", "flush_selected")
    page.click("button[name=index]")
    page.wait_for_selector("text=1 pending action for 1 lead will be flushed")
    shoot("11-flush-confirmation")
    page.click("input[type=submit][value^='Yes, flush']")
    page.wait_for_selector("text=Flushed 1 pending action for 1 lead.")
    shoot("12-flushed")
    assert LogEntry.objects.get(pk=entries["FIELD"].pk).state == EntryState.FLUSHED
    assert LogEntry.objects.get(pk=entries["STATUS"].pk).state == EntryState.SUCCEEDED

    # The entry of the integration: the exact request sent.
    page.goto(f"{live_server.url}/admin/automation/logentry/{entries['INTEGRATION'].pk}/change/")
    page.wait_for_selector("text=Request sent")
    shoot("13-integration-entry")

    # Dry run from the Test tab, and the lead's own page.
    page.goto(f"{live_server.url}/admin/automation/workflow/{workflow.pk}/change/")
    show_tab(page, "test")
    page.fill("#dry-run-lead", str(lead.pk))
    shoot("14-test-tab")
    page.click("button[form=dry-run-form]")
    page.wait_for_selector("text=Conditions (all must match)")
    shoot("15-dry-run")
    page.goto(f"{live_server.url}/admin/leads/lead/{lead.pk}/change/")
    page.wait_for_selector("text=Workflow log")
    shoot("16-lead-page")


def test_an_operator_acknowledges_a_conflict_and_re_enables_the_workflow(
    page, shoot, live_server, boss, statuses
):
    from automation.models import Notification

    workflow = Workflow.objects.create(
        name="Ping-pong",
        all_campaigns=True,
        active=False,
        disabled_reason="Loop detected: its actions re-triggered it 100 times. Disabled automatically.",
    )
    Notification.objects.create(workflow=workflow, message="Ping-pong: Loop detected (100 times).")
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/")
    page.wait_for_selector("#workflow-notifications")
    shoot("17-index-notifications")
    page.click("#workflow-notifications button.acknowledge")
    page.wait_for_selector("text=Notification acknowledged.")
    assert page.locator("#workflow-notifications").count() == 0

    page.goto(f"{live_server.url}/admin/automation/workflow/{workflow.pk}/change/")
    page.wait_for_selector(".workflow-disabled")
    shoot("18-disabled-workflow")
    page.click(".workflow-disabled button.reenable")
    page.wait_for_selector("text=is active again")
    assert page.locator(".workflow-disabled").count() == 0
    workflow.refresh_from_db()
    assert workflow.active and not workflow.disabled_reason
