"""The workflow page's Performance tab and the admin index's last-24-hours overview (SPEC C.5)."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from automation.insight import rollups
from automation.models import Action, LogEntry, Trigger
from tests.admin.conftest import make_user

REASON = "http 503: upstream down (attempt 3 of 3: giving up)"


@pytest.fixture
def busy(make_workflow, make_lead):
    """A workflow that fired 3 times and was rate-limited once in the last hours; its
    action succeeded once, failed twice (one reason) and has one pending entry."""
    workflow = make_workflow(name="Sale follow-up")
    lead = make_lead()
    action = Action.objects.get(action_set__workflow=workflow)
    now = timezone.now()
    for outcome in ("fired", "fired", "fired", "rate_limited"):
        Trigger.objects.create(
            workflow=workflow,
            lead_id=lead.pk,
            outcome=outcome,
            occurred_at=now - timedelta(hours=2),
        )
    for state, reason in (("succeeded", ""), ("failed", REASON), ("failed", REASON)):
        due = now - timedelta(hours=2)
        LogEntry.objects.create(
            workflow=workflow, action=action, lead_id=lead.pk, action_type=action.type,
            state=state, reason=reason, due_at=due, started_at=due + timedelta(seconds=3),
            finished_at=due + timedelta(seconds=4),
        )  # fmt: skip
    LogEntry.objects.create(
        workflow=workflow, action=action, lead_id=lead.pk, action_type=action.type, due_at=now
    )
    rollups.fold(now)
    return workflow


def test_it_shows_the_performance_tab_with_its_charts(admin_client_, busy):
    response = admin_client_.get(reverse("admin:automation_workflow_change", args=[busy.pk]))
    assert response.status_code == 200
    assert ["performance", "Performance"] in [
        list(t) for t in response.context["tab_config"]["tabs"]
    ]
    html = response.content.decode()
    assert 'data-tab="performance"' in html
    assert html.count('<svg class="chart chart-bars"') == 2  # outcomes, and the one action
    assert html.count('<svg class="chart chart-line"') == 1  # its lateness
    assert "fired: 3</title>" in html and "rate_limited: 1</title>" in html
    assert "failed: 2</title>" in html


def test_it_links_the_top_failure_reasons_to_the_filtered_log(admin_client_, busy):
    response = admin_client_.get(reverse("admin:automation_workflow_change", args=[busy.pk]))
    (reason,) = response.context["perf_reasons"]
    assert (reason["reason"], reason["count"]) == (REASON, 2)
    url = urlsplit(reason["url"])
    assert parse_qs(url.query) == {
        "workflow": [str(busy.pk)], "state__exact": ["failed"], "reason__exact": [REASON],
    }  # fmt: skip
    log = admin_client_.get(reason["url"])
    assert log.status_code == 200
    assert len(log.context["cl"].result_list) == 2
    assert all(e.reason == REASON for e in log.context["cl"].result_list)


def test_it_counts_each_action_and_reads_pending_live(admin_client_, busy):
    response = admin_client_.get(reverse("admin:automation_workflow_change", args=[busy.pk]))
    (action,) = response.context["perf_actions"]
    assert (action["succeeded"], action["failed"], action["pending"]) == (1, 2, 1)
    assert action["lateness_p50_seconds"] == 5


def test_it_switches_to_30_days_of_daily_bars(admin_client_, busy):
    url = reverse("admin:automation_workflow_change", args=[busy.pk])
    response = admin_client_.get(url, {"perf": "30d"})
    assert response.context["perf_label"] == "Last 30 days"
    assert response.content.decode().count('class="bar bar-fired"') == 1
    assert admin_client_.get(url, {"perf": "bogus"}).context["perf_label"] == "Last 7 days"


def test_a_new_workflow_has_no_performance_tab(admin_client_):
    response = admin_client_.get(reverse("admin:automation_workflow_add"))
    assert "performance" not in [t[0] for t in response.context["tab_config"]["tabs"]]


def test_the_index_shows_the_last_24_hours_of_every_workflow(admin_client_, busy, make_workflow):
    make_workflow(name="Quiet one")
    response = admin_client_.get(reverse("admin:index"))
    html = response.content.decode()
    assert 'id="workflows-overview"' in html
    assert "Quiet one" not in html
    (row,) = [r for r in response.context["rows"]]
    assert (row["name"], row["fired"], row["failed"], row["pending"]) == ("Sale follow-up", 3, 2, 1)
    assert row["worst_lateness"] == 5


def test_the_index_overview_needs_the_view_permission(login, busy):
    html = login(make_user("nobody")).get(reverse("admin:index")).content.decode()
    assert 'id="workflows-overview"' not in html and "Sale follow-up" not in html


def test_a_viewer_sees_the_overview_and_the_tab(login, viewer, busy):
    client = login(viewer)
    assert "Sale follow-up" in client.get(reverse("admin:index")).content.decode()
    page = client.get(reverse("admin:automation_workflow_change", args=[busy.pk]))
    assert 'data-tab="performance"' in page.content.decode()
