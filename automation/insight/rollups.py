"""Fold the log into per-workflow hourly counts (SPEC C.5), off every hot path.

A django-q2 schedule ("Fold workflow rollups", every minute: migration 0013)
runs `fold()`; `manage.py rollups --rebuild` (or `rebuild()`) recounts
everything from the log. Nothing on the lead-save or runner path writes here.

What is counted, per workflow and UTC hour:
- triggers by outcome, in the hour of `occurred_at`;
- finished entries (terminal states) by action and state, in the hour of
  `finished_at`, with a lateness histogram (models.rollups.LATENESS_BOUNDS)
  of those the runner started: lateness = started_at - due_at;
- failed entries by reason, in the hour of `finished_at`.

`fold(now)`, one at a time (RollupState's row is locked):
1. Window: from OVERLAP before the watermark (whole minutes) to `now`. The
   overlap re-reads rows committed after the last fold although their time
   is earlier (a transaction that set `finished_at` then took a while to
   commit).
2. Count the window per minute: three GROUP BY queries, on the partial
   index entry_finished_idx and trigger_workflow_time_idx.
3. Subtract what the last fold counted for those minutes (RollupSlice) and
   add the difference to the hourly rows: folding twice adds nothing.
4. Keep this fold's per-minute counts as the new slices; count the
   pending entries per action (RollupPending: a stats read would otherwise
   scan the whole pending queue); the watermark becomes `now`.
A row committed more than OVERLAP after its time is missed until the next
`rebuild()`; so is an entry that leaves a terminal state (back to pending)
after OVERLAP. Both are recounted exactly by `rebuild()`.
"""

from collections import defaultdict
from datetime import UTC, timedelta

from django.db import transaction
from django.db.models import Case, Count, F, IntegerField, Value, When
from django.db.models.functions import TruncHour, TruncMinute
from django.utils import timezone

from automation.constants import EntryState
from automation.models import (
    LogEntry,
    Rollup,
    RollupKind,
    RollupPending,
    RollupSlice,
    RollupState,
    Trigger,
    Workflow,
)
from automation.models.rollups import LATENESS_BINS, LATENESS_BOUNDS

OVERLAP = timedelta(minutes=10)
NOT_STARTED = -1  # the lateness bin of an entry that never started: none


def floor_minute(moment):
    return moment.replace(second=0, microsecond=0)


def floor_hour(moment):
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def lateness_bin(seconds):
    """The bin of a lateness in seconds (the same rule as the SQL in `entry_counts`)."""
    for number, bound in enumerate(LATENESS_BOUNDS):
        if seconds < bound:
            return number
    return len(LATENESS_BOUNDS)


def bin_expression():
    whens = [When(started_at__isnull=True, then=Value(NOT_STARTED))]
    whens += [
        When(started_at__lt=F("due_at") + timedelta(seconds=bound), then=Value(number))
        for number, bound in enumerate(LATENESS_BOUNDS)
    ]
    return Case(*whens, default=Value(len(LATENESS_BOUNDS)), output_field=IntegerField())


def window(queryset, field, since, until):
    if since is not None:
        queryset = queryset.filter(**{f"{field}__gte": since})
    return queryset.filter(**{f"{field}__lt": until})


def counts(since, until, trunc, workflow_ids=None):
    """{(workflow, kind, time, action id, action type, key): [count, bins]} of the log
    in [since, until) (since None: from the start), times truncated by `trunc`."""
    out = defaultdict(lambda: [0, [0] * LATENESS_BINS])
    finished = window(
        LogEntry.objects.filter(state__in=EntryState.TERMINAL), "finished_at", since, until
    )
    rows = (
        finished.annotate(t=trunc("finished_at", tzinfo=UTC), bin=bin_expression())
        .values_list("workflow_id", "t", "action_id", "action_type", "state", "bin")
        .annotate(n=Count("id"))
        .order_by()
    )
    for workflow_id, t, action_id, action_type, state, number, n in rows:
        cell = out[(workflow_id, RollupKind.ENTRY.value, t, action_id or 0, action_type, state)]
        cell[0] += n
        if number != NOT_STARTED:
            cell[1][number] += n
    reasons = (
        finished.filter(state=EntryState.FAILED)
        .annotate(t=trunc("finished_at", tzinfo=UTC))
        .values_list("workflow_id", "t", "reason")
        .annotate(n=Count("id"))
        .order_by()
    )
    for workflow_id, t, reason, n in reasons:
        out[(workflow_id, RollupKind.REASON.value, t, 0, "", reason)][0] += n
    triggers = window(Trigger.objects.all(), "occurred_at", since, until)
    if workflow_ids is not None:
        # One range scan of trigger_workflow_time_idx per workflow.
        triggers = triggers.filter(workflow_id__in=workflow_ids)
    rows = (
        triggers.annotate(t=trunc("occurred_at", tzinfo=UTC))
        .values_list("workflow_id", "t", "outcome")
        .annotate(n=Count("id"))
        .order_by()
    )
    for workflow_id, t, outcome, n in rows:
        out[(workflow_id, RollupKind.TRIGGER.value, t, 0, "", outcome)][0] += n
    return out


def row_key(row, time_field):
    return (
        row.workflow_id,
        row.kind,
        getattr(row, time_field),
        row.action_id,
        row.action_type,
        row.key,
    )


def empty(cell):
    return cell[0] == 0 and not any(cell[1])


def add_to_hours(delta):
    """Add per-minute differences to the hourly rows (created, updated or deleted)."""
    by_hour = defaultdict(lambda: [0, [0] * LATENESS_BINS])
    for (workflow_id, kind, minute, action_id, action_type, key), (n, bins) in delta.items():
        cell = by_hour[(workflow_id, kind, floor_hour(minute), action_id, action_type, key)]
        cell[0] += n
        cell[1] = [a + b for a, b in zip(cell[1], bins, strict=True)]
    by_hour = {k: v for k, v in by_hour.items() if not empty(v)}
    if not by_hour:
        return
    hours = {k[2] for k in by_hour}
    existing = {
        row_key(row, "hour"): row
        for row in Rollup.objects.filter(hour__in=hours, workflow_id__in={k[0] for k in by_hour})
    }
    new, changed, gone = [], [], []
    for k, (n, bins) in by_hour.items():
        row = existing.get(k)
        if row is None:
            workflow_id, kind, hour, action_id, action_type, key = k
            new.append(
                Rollup(
                    workflow_id=workflow_id,
                    kind=kind,
                    hour=hour,
                    action_id=action_id,
                    action_type=action_type,
                    key=key,
                    count=n,
                    lateness=bins if any(bins) else [],
                )
            )
            continue
        old_bins = row.lateness or [0] * LATENESS_BINS
        row.count += n
        merged = [a + b for a, b in zip(old_bins, bins, strict=True)]
        row.lateness = merged if any(merged) else []
        (gone if empty([row.count, merged]) else changed).append(row)
    Rollup.objects.bulk_create(new, batch_size=1000)
    Rollup.objects.bulk_update(changed, ["count", "lateness"], batch_size=1000)
    Rollup.objects.filter(pk__in=[row.pk for row in gone]).delete()


def locked_state():
    RollupState.objects.get_or_create(pk=1)
    return RollupState.objects.select_for_update().get(pk=1)


def fold(now=None):
    """Fold what the log gained since the last fold into the hourly rows (see the
    module's steps). Returns the number of slices counted."""
    now = now or timezone.now()
    with transaction.atomic():
        state = locked_state()
        if state.folded_until is None:
            return rebuild_locked(state, now)
        return fold_locked(state, now)


def fold_locked(state, now):
    since = floor_minute(min(state.folded_until, now) - OVERLAP)
    ids = list(Workflow.objects.values_list("pk", flat=True))
    fresh = counts(since, now, TruncMinute, workflow_ids=ids)
    before = {row_key(s, "minute"): [s.count, s.lateness or [0] * LATENESS_BINS]
              for s in RollupSlice.objects.filter(minute__gte=since)}  # fmt: skip
    delta = {}
    for k in fresh.keys() | before.keys():
        n1, bins1 = fresh.get(k, (0, [0] * LATENESS_BINS))
        n0, bins0 = before.get(k, (0, [0] * LATENESS_BINS))
        diff = [n1 - n0, [a - b for a, b in zip(bins1, bins0, strict=True)]]
        if not empty(diff):
            delta[k] = diff
    add_to_hours(delta)
    RollupSlice.objects.all().delete()
    RollupSlice.objects.bulk_create(
        [
            RollupSlice(
                workflow_id=workflow_id,
                kind=kind,
                minute=minute,
                action_id=action_id,
                action_type=action_type,
                key=key,
                count=n,
                lateness=bins if any(bins) else [],
            )
            for (workflow_id, kind, minute, action_id, action_type, key), (n, bins) in fresh.items()
        ],
        batch_size=1000,
    )
    count_pending()
    state.folded_until = now
    state.save(update_fields=["folded_until"])
    return len(fresh)


def count_pending():
    """Replace the pending counts per action (one scan of the pending queue)."""
    rows = (
        LogEntry.objects.filter(state=EntryState.PENDING)
        .values_list("workflow_id", "action_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    pending = defaultdict(int)
    for workflow_id, action_id, n in rows:
        pending[(workflow_id, action_id or 0)] += n
    RollupPending.objects.all().delete()
    RollupPending.objects.bulk_create(
        [RollupPending(workflow_id=w, action_id=a, count=n) for (w, a), n in pending.items()],
        batch_size=2000,
    )


def rebuild(now=None):
    """Recount every rollup from the log (what a fold keeps up, recounted exactly)."""
    now = now or timezone.now()
    with transaction.atomic():
        return rebuild_locked(locked_state(), now)


def rebuild_locked(state, now):
    """Hourly rows for everything before `cut` (a whole minute, OVERLAP before now),
    then a fold of the rest from an empty overlap."""
    cut = floor_minute(now) - OVERLAP
    Rollup.objects.all().delete()
    RollupSlice.objects.all().delete()
    Rollup.objects.bulk_create(
        [
            Rollup(
                workflow_id=workflow_id,
                kind=kind,
                hour=hour,
                action_id=action_id,
                action_type=action_type,
                key=key,
                count=n,
                lateness=bins if any(bins) else [],
            )
            for (workflow_id, kind, hour, action_id, action_type, key), (n, bins) in counts(
                None, cut, TruncHour
            ).items()
        ],
        batch_size=2000,
    )
    state.folded_until = cut + OVERLAP
    state.rebuilt_at = now
    state.save(update_fields=["folded_until", "rebuilt_at"])
    return fold_locked(state, now)
