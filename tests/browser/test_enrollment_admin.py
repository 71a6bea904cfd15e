"""In a real browser: select every lead, "Enroll in workflow…", confirm, and watch the
progress page follow the job until it is done (SPEC C.6)."""

import pytest
from django.contrib.auth.models import User

from automation.execution import enrollment as jobs
from automation.models import Action, ActionSet, Enrollment, EventCondition, Workflow
from leads.admin import LeadAdmin
from leads.models import Campaign, Lead, List
from tests.browser.test_performance_tab import watch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def world(transactional_db):
    User.objects.create_superuser("boss", "boss@example.com", "pw-boss-1")
    lead_list = List.objects.create(name="Solar CA", campaign=Campaign.objects.create(name="Solar"))
    for n, state in enumerate(("CA", "CA", "TX")):
        Lead.objects.create(list=lead_list, phone_number=f"+1310555010{n}", state=state)
    workflow = Workflow.objects.create(name="California welcome", all_campaigns=True)
    EventCondition.objects.create(
        workflow=workflow,
        type="LEAD_FIELDS",
        config={"field": "state", "operator": "equals", "value": "CA"},
    )
    Action.objects.create(
        action_set=ActionSet.objects.create(workflow=workflow, delay_mode="fixed", delay_hours=1),
        type="STATUS",
        config={"status": "FOLLOW"},
    )
    return workflow


def test_an_operator_enrolls_the_filtered_leads_and_watches_the_progress(
    page, live_server, world, shoot, monkeypatch
):
    handed = []
    # The job's django-q2 task is kept here, so the page is seen while it runs.
    monkeypatch.setattr(jobs, "async_task", lambda *args: handed.append(args))
    monkeypatch.setattr(LeadAdmin, "list_per_page", 2)  # 3 leads: "select all" is offered
    problems = watch(page)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "pw-boss-1")
    page.click("input[type=submit]")
    page.wait_for_selector("#content-main")
    page.goto(f"{live_server.url}/admin/leads/lead/")
    page.check("#action-toggle")
    page.click(".actions .question a")  # select all the list's leads, not only this page's
    page.select_option("select[name=action]", "enroll_in_workflow")
    page.click("button[name=index]")
    page.wait_for_selector(".enroll-summary")
    assert "3 leads will be enrolled" in page.locator(".enroll-summary").inner_text()
    page.select_option("#id_workflow", str(world.pk))
    page.fill("#id_rate", "50")
    shoot("enroll-confirmation")
    page.click("input[type=submit][value='Enroll 3 leads']")
    page.wait_for_selector("#enrollment-bar")
    job = Enrollment.objects.get()
    assert page.locator("#enrollment-status").inner_text() == "running"
    assert page.locator("#enrollment-cancel").is_visible()
    ((_, job_id, token),) = handed
    jobs.run(job_id, token)  # what the worker does
    # The page polls the job: it shows the end without a reload.
    page.wait_for_function("document.getElementById('enrollment-status').textContent === 'done'")
    assert page.locator("#enrollment-done").inner_text() == "3"
    assert page.locator("#enrollment-bar").get_attribute("value") is not None
    assert page.evaluate("document.getElementById('enrollment-bar').value") == 1
    outcomes = page.locator("#enrollment-outcomes tbody").inner_text()
    assert "fired\t2" in outcomes and "not_matched\t1" in outcomes
    assert page.locator("#enrollment-cancel").count() == 0
    shoot("enrollment-progress")
    job.refresh_from_db()
    assert job.status == "done" and job.lead_ids is None and job.filter == {}
    assert problems == []
