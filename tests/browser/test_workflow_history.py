"""In a real browser (SPEC C.2): a workflow's History shows the diff of two versions
and restores one; Delete archives; Duplicate opens the copy."""

import copy

import pytest

from automation.document import document
from automation.models import Workflow
from tests.browser.test_workflow_admin import boss, log_in, show_tab  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DOC = {
    "name": "Sale follow-up",
    "description": "First words",
    "all_campaigns": True,
    "events": [{"type": "DISPOSITION", "values": ["SALE"]}],
    "action_sets": [{"actions": [{"type": "STATUS", "config": {"status": "FOLLOW"}}]}],
}


@pytest.fixture
def workflow(statuses):
    workflow = document.save(copy.deepcopy(DOC))
    edited = {**document.export(workflow, ids=True), "description": "Second words"}
    return document.save(edited, workflow)  # version 2: only the description changed


def test_the_history_shows_a_diff_and_restores_a_version(page, live_server, boss, workflow, shoot):  # noqa: F811
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/automation/workflow/{workflow.pk}/change/")
    page.click(".object-tools a.historylink")
    page.wait_for_selector("#version-diff table.diff")
    assert page.locator(".version-row").count() == 2
    diff = page.inner_text("#version-diff").replace("\xa0", " ")
    assert '"description": "First words"' in diff and '"description": "Second words"' in diff
    assert '"type": "STATUS"' not in diff  # only the change and the lines around it
    assert page.locator("#version-diff .diff_chg").count() > 0
    shoot("history-diff")

    page.click(".version-row[data-version='1'] button.restore-version")
    page.wait_for_selector(".messagelist .success")
    assert "Restored version 1 as version 3" in page.inner_text(".messagelist")
    assert page.locator(".version-row").count() == 3
    workflow.refresh_from_db()
    assert (workflow.version, workflow.description) == (3, "First words")


def test_delete_archives_and_the_archived_filter_finds_it(page, live_server, boss, workflow):  # noqa: F811
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/automation/workflow/{workflow.pk}/change/")
    page.click("a.deletelink")
    page.wait_for_selector(".archive-question")
    page.click("input[type=submit][value='Yes, archive it']")
    page.wait_for_selector(".messagelist .success")
    assert "is archived" in page.inner_text(".messagelist")
    assert page.locator("#result_list").count() == 0 or "Sale follow-up" not in page.inner_text(
        "#result_list"
    )
    workflow.refresh_from_db()
    assert workflow.archived and not workflow.active
    page.click("#changelist-filter a:text-is('Archived')")
    page.wait_for_selector("#result_list")
    assert "Sale follow-up" in page.inner_text("#result_list")


def test_duplicate_opens_the_inactive_copy(page, live_server, boss, workflow, shoot):  # noqa: F811
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/automation/workflow/{workflow.pk}/change/")
    show_tab(page, "events")  # the tabs are the workflow form's, not the Duplicate button's
    assert not page.is_visible("#id_name")
    page.click("button.duplicate-workflow")
    page.wait_for_selector(".messagelist .success")
    assert page.input_value("#id_name") == "Copy of Sale follow-up"
    assert not page.is_checked("#id_active")
    shoot("duplicate")
    copy_ = Workflow.objects.get(name="Copy of Sale follow-up")
    assert page.url.endswith(f"/admin/automation/workflow/{copy_.pk}/change/")
