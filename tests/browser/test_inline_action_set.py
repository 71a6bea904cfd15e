"""In a real browser: an action set added inline at its defaults ("Immediately / 24hr") is saved."""

import pytest

from automation.models import ActionSet, EventCondition, Workflow
from tests.browser.test_workflow_admin import boss, log_in, show_tab  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_action_set_added_inline_at_its_defaults_is_saved(page, live_server, boss, statuses):  # noqa: F811
    workflow = Workflow.objects.create(name="Sale follow-up", all_campaigns=True)
    EventCondition.objects.create(
        workflow=workflow, type="DISPOSITION", config={"values": ["SALE"]}
    )
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/automation/workflow/{workflow.pk}/change/")
    show_tab(page, "actions")
    page.click("#action_sets-group .add-row a")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    action_set = ActionSet.objects.get(workflow=workflow)
    assert (action_set.delay_mode, action_set.window) == ("immediate", "24hr")
