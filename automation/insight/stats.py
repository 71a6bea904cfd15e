"""Reading the rollups: a workflow's stats (SPEC C.5) and the admin's overview.

Everything here reads the rollup rows (automation.insight.rollups), never
counts the log; `pending` is the fold's count of the pending entries (at most
a minute old: counting them live scans the whole pending queue).

Ranges: `since` is rounded down and `until` up to whole hours (rollups are
hourly, UTC), so a range covers the hours it touches. Day buckets are UTC days.

Lateness (p50/p95): started_at - due_at of the entries the runner started
(a bounded overestimate: the upper bound of the histogram bin holding that
rank, models.rollups.LATENESS_BOUNDS; the open last bin reads as its lower
bound, 86,400 s). None when no entry of the action started in the range.
"""

import math
from collections import defaultdict
from datetime import UTC, timedelta

from django.db.models import Sum

from automation.constants import EntryState, TriggerOutcome
from automation.models import Action, Rollup, RollupKind, RollupPending
from automation.models.rollups import LATENESS_BINS, LATENESS_BOUNDS

BUCKETS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
MAX_RANGE = timedelta(days=366)
TOP_REASONS = 10
# The states an action's stats count (SPEC C.5), pending read live.
ACTION_STATES = ("succeeded", "failed", "skipped", "cancelled", "flushed")
SUPPRESSED = [o for o in TriggerOutcome.values if o != TriggerOutcome.FIRED]


def floor_to(moment, bucket):
    moment = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if bucket == "day" else moment


def bucket_starts(since, until, bucket):
    step, t, out = BUCKETS[bucket], floor_to(since, bucket), []
    while t < until:
        out.append(t)
        t += step
    return out


def percentile(bins, fraction):
    """The upper bound (seconds) of the bin holding the `fraction` rank; None if empty."""
    total = sum(bins)
    if not total:
        return None
    rank, seen = max(1, math.ceil(fraction * total)), 0
    for number, n in enumerate(bins):
        seen += n
        if seen >= rank:
            return LATENESS_BOUNDS[min(number, len(LATENESS_BOUNDS) - 1)]
    return LATENESS_BOUNDS[-1]


def add_bins(into, bins):
    for number, n in enumerate(bins or ()):
        into[number] += n


def rows(workflow_id, since, until):
    return Rollup.objects.filter(
        workflow_id=workflow_id, hour__gte=floor_to(since, "hour"), hour__lt=until
    )


def summary(workflow, since, until, bucket="hour", detail=True):
    """The stats of `workflow` over [since, until), plus (`detail`) the per-bucket
    detail the admin's charts draw: `buckets`, `outcomes` {outcome: [n]},
    `per_action` {action id: {state: [n], "p95": [seconds or None]}}."""
    starts = bucket_starts(since, until, bucket)
    position = {t: i for i, t in enumerate(starts)}
    width = len(starts)

    def slot(hour):  # rollup hours are whole UTC hours already
        return position.get(hour.replace(hour=0) if bucket == "day" else hour)

    triggers = defaultdict(int)
    outcomes = defaultdict(lambda: [0] * width)
    fired, succeeded, failed = [0] * width, [0] * width, [0] * width
    actions = {}
    per_action = {}
    reasons = defaultdict(int)
    for a in Action.objects.filter(action_set__workflow=workflow).order_by(
        "action_set__position", "position", "pk"
    ):
        actions[a.pk] = new_action(a.pk, a.type)
    for kind, hour, action_id, action_type, key, n, lateness in rows(
        workflow.pk, since, until
    ).values_list("kind", "hour", "action_id", "action_type", "key", "count", "lateness"):
        i = slot(hour)
        if kind == RollupKind.TRIGGER:
            triggers[key] += n
            if i is not None:
                outcomes[key][i] += n
                if key == TriggerOutcome.FIRED:
                    fired[i] += n
        elif kind == RollupKind.REASON:
            reasons[key] += n
        else:
            if action_id not in actions:  # an action deleted since
                actions[action_id] = new_action(action_id, action_type)
            action = actions[action_id]
            if key in ACTION_STATES:
                action[key] += n
            add_bins(action["_bins"], lateness)
            if i is not None:
                if detail:
                    if action_id not in per_action:
                        per_action[action_id] = new_detail(width)
                    cells = per_action[action_id]
                    if key in cells:
                        cells[key][i] += n
                    add_bins(cells["_bins"][i], lateness)
                if key == EntryState.SUCCEEDED:
                    succeeded[i] += n
                elif key == EntryState.FAILED:
                    failed[i] += n
    for action_id, n in pending_by_action(workflow.pk).items():
        if action_id in actions:
            actions[action_id]["pending"] = n
    for action in actions.values():
        bins = action.pop("_bins")
        action["lateness_p50_seconds"] = percentile(bins, 0.50)
        action["lateness_p95_seconds"] = percentile(bins, 0.95)
    for cells in per_action.values():
        cells["p95"] = [percentile(b, 0.95) for b in cells.pop("_bins")]
    top = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_REASONS]
    return {
        "triggers": dict(sorted(triggers.items())),
        "actions": list(actions.values()),
        "series": [
            {
                "t": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "fired": fired[i],
                "succeeded": succeeded[i],
                "failed": failed[i],
            }
            for i, t in enumerate(starts)
        ],
        "top_reasons": [{"reason": r, "count": n} for r, n in top],
        "buckets": starts,
        "outcomes": dict(outcomes),
        "per_action": per_action,
    }


def new_action(action_id, action_type):
    return {
        "action": action_id,
        "type": action_type,
        **dict.fromkeys(ACTION_STATES, 0),
        "pending": 0,
        "_bins": [0] * LATENESS_BINS,
    }


def new_detail(width):
    return {
        "succeeded": [0] * width,
        "failed": [0] * width,
        "skipped": [0] * width,
        "_bins": [[0] * LATENESS_BINS for _ in range(width)],
    }


API_KEYS = ("triggers", "actions", "series", "top_reasons")


def stats(workflow, since, until, bucket="hour"):
    """`workflows/{id}/stats/`: exactly SPEC C.5's keys."""
    full = summary(workflow, since, until, bucket, detail=False)
    return {key: full[key] for key in API_KEYS}


def pending_by_action(workflow_id=None):
    """{action id: pending entries} (or {workflow id: …} with no workflow), as the
    last fold counted them (at most a minute old)."""
    if workflow_id is None:
        rows = RollupPending.objects.values_list("workflow_id").annotate(n=Sum("count"))
        return dict(rows.order_by())
    rows = RollupPending.objects.filter(workflow_id=workflow_id).values_list("action_id", "count")
    return dict(rows)


def overview(now, hours=24):
    """Every workflow's last `hours`: {workflow id: {fired, failed, pending, worst
    lateness (the largest per-action p95, seconds)}}."""
    since = floor_to(now - timedelta(hours=hours), "hour")
    recent = Rollup.objects.filter(hour__gte=since, hour__lte=now)
    out = defaultdict(lambda: {"fired": 0, "failed": 0, "pending": 0, "worst_lateness": None})
    for workflow_id, kind, _key, n in (
        recent.filter(
            kind__in=[RollupKind.TRIGGER, RollupKind.ENTRY],
            key__in=[TriggerOutcome.FIRED, EntryState.FAILED],
        )
        .values_list("workflow_id", "kind", "key")
        .annotate(n=Sum("count"))
        .order_by()
    ):
        if kind == RollupKind.TRIGGER:
            out[workflow_id]["fired"] += n
        else:
            out[workflow_id]["failed"] += n
    bins = defaultdict(lambda: [0] * LATENESS_BINS)
    for workflow_id, action_id, lateness in recent.filter(kind=RollupKind.ENTRY).values_list(
        "workflow_id", "action_id", "lateness"
    ):
        add_bins(bins[(workflow_id, action_id)], lateness)
    for (workflow_id, _), b in bins.items():
        p95 = percentile(b, 0.95)
        worst = out[workflow_id]["worst_lateness"]
        if p95 is not None and (worst is None or p95 > worst):
            out[workflow_id]["worst_lateness"] = p95
    for workflow_id, n in pending_by_action().items():
        out[workflow_id]["pending"] = n
    return out
