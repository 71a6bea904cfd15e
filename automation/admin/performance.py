"""The workflow page's Performance tab: what it did, from the rollups (SPEC C.5).

Charts (server-rendered SVG, automation.admin.charts): triggers fired and
suppressed by outcome over time; per action succeeded / failed / skipped over
time and its p95 lateness. The top failure reasons link to the log filtered
to them. `?perf=24h|7d|30d` picks the range (hourly bars, or daily for 30 days).
"""

from datetime import timedelta
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone

from automation.admin import charts
from automation.constants import ActionType, EntryState, TriggerOutcome
from automation.insight import stats

RANGES = {
    "24h": ("Last 24 hours", timedelta(hours=24), "hour"),
    "7d": ("Last 7 days", timedelta(days=7), "hour"),
    "30d": ("Last 30 days", timedelta(days=30), "day"),
}
DEFAULT_RANGE = "7d"
ACTION_STATES = ["succeeded", "failed", "skipped"]


def log_url(workflow, **filters):
    query = urlencode({"workflow": workflow.pk, **filters})
    return reverse("admin:automation_logentry_changelist") + "?" + query


def trigger_url(workflow, **filters):
    query = urlencode({"workflow": workflow.pk, **filters})
    return reverse("admin:automation_trigger_changelist") + "?" + query


def context(request, workflow, now=None):
    """The template context of the Performance tab."""
    now = now or timezone.now()
    chosen = request.GET.get("perf")
    chosen = chosen if chosen in RANGES else DEFAULT_RANGE
    label, span, bucket = RANGES[chosen]
    data = stats.summary(workflow, now - span, now, bucket)
    starts = data["buckets"]
    order = [TriggerOutcome.FIRED.value] + [o for o in stats.SUPPRESSED if o in data["outcomes"]]
    outcomes = {o: data["outcomes"].get(o, [0] * len(starts)) for o in order}
    actions = []
    for number, action in enumerate(data["actions"], start=1):
        detail = data["per_action"].get(action["action"])
        name = f"{number}. {ActionType(action['type']).label if action['type'] in ActionType.values else action['type']}"
        actions.append(
            {
                **action,
                "name": name,
                "log_url": log_url(workflow, action_type__exact=action["type"]),
                "failed_url": log_url(
                    workflow, action_type__exact=action["type"], state__exact=EntryState.FAILED
                ),
                "chart": detail
                and charts.bars(
                    f"{name}: succeeded, failed, skipped",
                    starts,
                    {s: detail[s] for s in ACTION_STATES},
                    bucket,
                ),
                "lateness_chart": detail
                and any(v is not None for v in detail["p95"])
                and charts.line(f"{name}: p95 lateness", starts, detail["p95"], bucket),
            }
        )
    return {
        "perf_ranges": [(key, title, key == chosen) for key, (title, _, _) in RANGES.items()],
        "perf_label": label,
        "perf_triggers": [
            (outcome, n, trigger_url(workflow, outcome__exact=outcome))
            for outcome, n in sorted(data["triggers"].items(), key=lambda kv: -kv[1])
        ],
        "perf_outcomes_chart": charts.bars(
            "Triggers: fired and suppressed by outcome", starts, outcomes, bucket
        ),
        "perf_outcomes_legend": charts.legend(order),
        "perf_actions_legend": charts.legend(ACTION_STATES),
        "perf_actions": actions,
        "perf_reasons": [
            {
                **reason,
                "url": log_url(
                    workflow, state__exact=EntryState.FAILED, reason__exact=reason["reason"]
                ),
            }
            for reason in data["top_reasons"]
        ],
    }
