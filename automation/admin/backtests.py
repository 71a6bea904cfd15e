"""The workflow page's Backtest tab (SPEC C.6): what this workflow would have done.

A period (two dates, in the account's zone) starts a backtest of the saved
workflow — active or not: an inactive one is a draft — in a django-q2 task
(automation.insight.backtest). `?backtest=<id>` shows it: a progress bar
(static/automation/backtest.js polls `backtest_status_view` and reloads
when it is over), the outcome counts, a fired-per-hour chart, the projected
send volume per hour of day (due times after windows and schedule), and
sample leads with why. Starting one is for operators (change_workflow).
"""

from datetime import datetime, time, timedelta

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils import timezone

from automation.admin import charts
from automation.admin.views import object_or_404
from automation.insight import backtest
from automation.models import Backtest, Workflow
from crm.validation import Invalid, parse_date, parse_id

DEFAULT_DAYS = 7


def may_run(request):
    return request.user.has_perm("automation.change_workflow")


def day_start(day):
    return timezone.make_aware(datetime.combine(day, time()), timezone.get_default_timezone())


def context(request, workflow):
    """The template context of the Backtest tab."""
    today = timezone.localdate()
    data = {
        "bt_may_run": may_run(request),
        "bt_since": (today - timedelta(days=DEFAULT_DAYS)).isoformat(),
        "bt_until": today.isoformat(),
        "bt_journal_days": settings.JOURNAL_DAYS,
        "bt_zone": settings.TIME_ZONE,
        "bt": None,
    }
    try:
        pk = (
            parse_id(request.GET.get("backtest"), "backtest") if "backtest" in request.GET else None
        )
    except Invalid:
        pk = None
    bt = Backtest.objects.filter(pk=pk, workflow=workflow).first() if pk else None
    if bt is None or not data["bt_may_run"]:
        return data
    result = backtest.represent(bt)
    data["bt"] = result
    data["bt_status_url"] = reverse(
        "admin:automation_workflow_backtest_status", args=[workflow.pk, bt.pk]
    )
    data["bt_since"] = timezone.localtime(bt.since).date().isoformat()
    data["bt_until"] = (timezone.localtime(bt.until) - timedelta(days=1)).date().isoformat()
    if bt.status != "done":
        return data
    starts = [datetime.fromisoformat(row["t"]) for row in result["by_hour"]]
    data["bt_outcomes"] = sorted(result["outcomes"].items(), key=lambda kv: -kv[1])
    data["bt_actions"] = sorted(result["actions"].items(), key=lambda kv: -kv[1])
    data["bt_fired_chart"] = charts.bars(
        "Fired per hour (would have)",
        starts,
        {"fired": [row["fired"] for row in result["by_hour"]]},
        "hour",
    )
    midnight = day_start(timezone.localdate())
    data["bt_sends_chart"] = charts.bars(
        f"Projected sends per hour of day ({settings.TIME_ZONE})",
        [midnight + timedelta(hours=h) for h in range(24)],
        {"fired": result["sends_by_hour_of_day"]},
        "hour_of_day",
    )
    return data


def backtest_view(model_admin, request, object_id):
    """Start a backtest of this workflow over the period picked; back to its tab."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    workflow = object_or_404(Workflow, object_id)
    if not may_run(request):
        raise PermissionDenied
    url = reverse("admin:automation_workflow_change", args=[workflow.pk])
    try:
        since = parse_date(request.POST.get("since"), "since")
        until = parse_date(request.POST.get("until"), "until")
        if since > until:
            raise Invalid("since", "must not be after until")
    except Invalid as exc:
        messages.error(request, f"Backtest not started: {exc}")
        return HttpResponseRedirect(url + "#tab-backtest")
    bt = backtest.start(
        day_start(since), day_start(until + timedelta(days=1)), workflow=workflow, user=request.user
    )
    return HttpResponseRedirect(f"{url}?backtest={bt.pk}#tab-backtest")


def backtest_status_view(model_admin, request, object_id, backtest_id):
    """The backtest as JSON (as the API shows it), for the tab's progress bar."""
    workflow = object_or_404(Workflow, object_id)
    if not may_run(request):
        raise PermissionDenied
    bt = object_or_404(Backtest, backtest_id)
    if bt.workflow_id != workflow.pk:
        raise Http404("No such backtest of this workflow.")
    return JsonResponse(backtest.represent(bt))
