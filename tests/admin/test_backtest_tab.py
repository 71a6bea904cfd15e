"""The workflow page's Backtest tab (SPEC C.6): who may run one, the period, the JSON status."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from automation.models import Backtest
from leads.models import Call

pytestmark = pytest.mark.django_db


def start_url(workflow):
    return reverse("admin:automation_workflow_backtest", args=[workflow.pk])


def test_an_operator_runs_a_backtest_over_whole_days_of_the_account_zone(
    operator, login, make_workflow, make_lead, statuses, django_capture_on_commit_callbacks
):
    workflow = make_workflow()  # Disposition = SALE
    Call.record(lead=make_lead(), disposition=statuses["SALE"])
    today = timezone.localdate()
    client = login(operator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            start_url(workflow),
            {"since": (today - timedelta(days=2)).isoformat(), "until": today.isoformat()},
        )
    bt = Backtest.objects.get()
    change = reverse("admin:automation_workflow_change", args=[workflow.pk])
    assert response["Location"] == f"{change}?backtest={bt.pk}#tab-backtest"
    assert timezone.localtime(bt.since).date() == today - timedelta(days=2)
    assert timezone.localtime(bt.until).date() == today + timedelta(days=1)
    assert timezone.localtime(bt.since).hour == 0 and bt.created_by == operator
    assert bt.status == "done" and bt.result["outcomes"] == {"fired": 1}
    page = client.get(f"{change}?backtest={bt.pk}").content.decode()
    assert 'data-outcome="fired">fired: 1<' in page and 'id="bt-fired"' in page
    status = client.get(
        reverse("admin:automation_workflow_backtest_status", args=[workflow.pk, bt.pk])
    )
    assert status.json()["status"] == "done" and status.json()["outcomes"] == {"fired": 1}


def test_a_viewer_may_not_run_or_read_one(viewer, login, make_workflow):
    workflow = make_workflow()
    bt = Backtest.objects.create(workflow=workflow, since=timezone.now(), until=timezone.now())
    client = login(viewer)
    response = client.post(start_url(workflow), {"since": "2026-01-01", "until": "2026-01-02"})
    assert response.status_code == 403
    status_url = reverse("admin:automation_workflow_backtest_status", args=[workflow.pk, bt.pk])
    assert client.get(status_url).status_code == 403
    page = client.get(
        f"{reverse('admin:automation_workflow_change', args=[workflow.pk])}?backtest={bt.pk}"
    )
    assert "Backtests are for operators." in page.content.decode()
    assert 'id="bt-result"' not in page.content.decode()
    assert Backtest.objects.count() == 1


def test_a_bad_period_starts_nothing_and_says_why(operator, login, make_workflow):
    workflow = make_workflow()
    client = login(operator)
    response = client.post(
        start_url(workflow), {"since": "2026-02-01", "until": "2026-01-01"}, follow=True
    )
    assert "Backtest not started: since: must not be after until" in response.content.decode()
    assert client.post(start_url(workflow), {"since": "soon"}).status_code == 302
    assert client.get(start_url(workflow)).status_code == 405
    assert not Backtest.objects.exists()


def test_a_backtest_of_another_workflow_is_not_found_here(operator, login, make_workflow):
    one, other = make_workflow(), make_workflow()
    bt = Backtest.objects.create(workflow=other, since=timezone.now(), until=timezone.now())
    client = login(operator)
    url = reverse("admin:automation_workflow_backtest_status", args=[one.pk, bt.pk])
    assert client.get(url).status_code == 404
