"""The workflow page's "Test with lead N": automation.document.dryrun.explain, rendered."""

from unittest import mock

from django.urls import reverse

from automation.models import LogEntry, Trigger


def dry_run_url(workflow):
    return reverse("admin:automation_workflow_dry_run", args=[workflow.pk])


def test_the_workflow_page_offers_a_dry_run(admin_client_, make_workflow):
    workflow = make_workflow()
    html = admin_client_.get(
        reverse("admin:automation_workflow_change", args=[workflow.pk])
    ).content.decode()
    assert f'action="{dry_run_url(workflow)}"' in html and 'form="dry-run-form"' in html


def test_it_explains_what_would_happen_and_stores_nothing(
    admin_client_, make_workflow, make_lead, statuses
):
    from leads.models import Call

    workflow = make_workflow(actions=[("STATUS", {"status": "FOLLOW"})])
    lead = make_lead(timezone="America/Los_Angeles")
    Call.record(lead=lead, disposition=statuses["SALE"])
    triggers, entries = Trigger.objects.count(), LogEntry.objects.count()
    response = admin_client_.get(dry_run_url(workflow), {"lead": lead.pk})
    assert response.status_code == 200
    html = response.content.decode()
    report = response.context["report"]
    assert report["lead"]["id"] == lead.pk
    assert [c["type"] for c in report["conditions"]] == ["DISPOSITION"]
    assert "Conditions (all must match)" in html and "Gates" in html
    assert "Status Change" in html
    assert report["actions"][0]["due_local_display"].endswith(("-07:00", "-08:00"))
    assert (Trigger.objects.count(), LogEntry.objects.count()) == (triggers, entries)


def test_it_renders_the_documented_report(admin_client_, make_workflow, make_lead):
    workflow, lead = make_workflow(), make_lead()
    report = {
        "workflow": {"id": workflow.pk, "name": workflow.name, "active": True},
        "lead": {"id": lead.pk, "timezone": "America/Chicago"},
        "occurrence": {},
        "conditions": [{"type": "DISPOSITION", "config": {"values": ["SALE"]}, "matched": False,
                        "why": "the disposition is NA, not SALE"}],
        "gates": [{"gate": "rate_limit", "passed": None, "why": "not reached"}],
        "outcome": "no_match",
        "actions": [{"action_set": 0, "type": "STATUS", "config": {"status": "FOLLOW"},
                     "due_at": "2026-03-02T15:00:00+00:00", "due_local": "2026-03-02T09:00:00-06:00",
                     "due_account": "2026-03-02T10:00:00-05:00", "error": ""}],
    }  # fmt: skip
    with mock.patch("automation.document.dryrun.explain", return_value=report) as explain:
        html = admin_client_.get(dry_run_url(workflow), {"lead": lead.pk}).content.decode()
    explain.assert_called_once()
    assert "the disposition is NA, not SALE" in html
    assert "Mon 2026-03-02 09:00:00 -06:00" in html and "Mon 2026-03-02 10:00:00 -05:00" in html
    assert "would not run: the outcome is no_match" in html


def test_it_says_when_the_lead_does_not_exist(admin_client_, make_workflow):
    workflow = make_workflow()
    response = admin_client_.get(dry_run_url(workflow), {"lead": 999999})
    assert "There is no lead #999999." in response.content.decode()
