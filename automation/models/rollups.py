"""Per-workflow counts by hour, kept by a periodic fold of the log (automation.insight.rollups).

Rollup: one row per workflow, hour (UTC), kind, action and key, with a count
and, for entries, a small fixed lateness histogram. Only the fold writes
these rows (one fold at a time, under RollupState's row lock), so no row is
hot and nothing on the lead-save or runner path touches them.
RollupSlice: the same counts per minute, for the fold's overlap window only:
what the fold counted last time, so that recounting the overlap (to catch
rows committed late) adds the difference, not the count again.
RollupPending: the pending entries per action, as the last fold counted them.
"""

from django.db import models

from automation.models.workflows import Workflow

# Lateness = started_at - due_at (seconds, at least 0) of an entry the runner
# started; a bin holds lateness below its bound and at or above the previous
# one. The last bin (one day or more) is open.
LATENESS_BOUNDS = (1, 5, 15, 30, 60, 120, 300, 900, 1800, 3600, 21600, 86400)
LATENESS_BINS = len(LATENESS_BOUNDS) + 1


class RollupKind(models.TextChoices):
    TRIGGER = "trigger", "Trigger (key: outcome)"
    ENTRY = "entry", "Log entry (key: state)"
    REASON = "reason", "Failed entry (key: reason)"


class RollupCounts(models.Model):
    # No database constraint (the log's rows have none either); the rows go
    # with their workflow (CASCADE), and a fold racing a deletion leaves rows
    # of an id nobody reads (`rebuild` drops them).
    workflow = models.ForeignKey(
        Workflow, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=RollupKind)
    action_id = models.BigIntegerField(default=0, help_text="0: not an entry row.")
    action_type = models.CharField(max_length=20, blank=True)
    key = models.CharField(max_length=500, help_text="Outcome, state or failure reason.")
    count = models.BigIntegerField(default=0)
    lateness = models.JSONField(
        default=list, blank=True, help_text="Entries per lateness bin (LATENESS_BOUNDS)."
    )

    class Meta:
        abstract = True


class Rollup(RollupCounts):
    """Counts of one workflow's triggers, entries or failure reasons in one UTC hour."""

    hour = models.DateTimeField()

    class Meta:
        constraints = [
            # One row per bucket; also the stats read: a workflow's rows of one
            # kind over an hour range (automation.insight.stats).
            models.UniqueConstraint(
                fields=["workflow", "kind", "hour", "action_id", "key"], name="rollup_bucket_uniq"
            )
        ]

    def __str__(self):
        return f"{self.workflow_id} {self.hour:%Y-%m-%d %H}h {self.kind} {self.key}: {self.count}"


class RollupSlice(RollupCounts):
    """What the last fold counted in one minute of its overlap window."""

    minute = models.DateTimeField()

    class Meta:
        indexes = [
            # The fold reads and replaces the slices of its window.
            models.Index(fields=["minute"], name="rollup_slice_minute_idx"),
        ]

    def __str__(self):
        return (
            f"{self.workflow_id} {self.minute:%Y-%m-%d %H:%M} {self.kind} {self.key}: {self.count}"
        )


class RollupPending(models.Model):
    """Pending entries per workflow and action, as the last fold counted them.

    Counting them on every stats read scans the pending queue (1,000,000
    entries on the scale database: ~300 ms); the fold counts them once a
    minute instead, so a read costs a few rows and is at most a minute old."""

    workflow = models.ForeignKey(
        Workflow, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="+"
    )
    action_id = models.BigIntegerField(default=0, help_text="0: an entry whose action is gone.")
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            # One row per action; also the stats read: a workflow's rows.
            models.UniqueConstraint(fields=["workflow", "action_id"], name="rollup_pending_uniq")
        ]

    def __str__(self):
        return f"{self.workflow_id}/{self.action_id}: {self.count} pending"


class RollupState(models.Model):
    """The fold's watermark (one row, locked by the fold while it runs)."""

    folded_until = models.DateTimeField(null=True, blank=True)
    rebuilt_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"rollups folded until {self.folded_until}"
