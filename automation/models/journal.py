"""History replay (SPEC C.6): the occurrence journal and the backtests read from it."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from automation.models.workflows import Workflow
from leads.models import Lead


class JournalEntry(models.Model):
    """One occurrence the engine evaluated, as it evaluated it (automation.engine.journal).

    A lean row, appended in the transaction of the change: when, which lead,
    the kind, the occurrence's facts, and the lead's values as the occurrence
    left them (`values`, every field a condition, a stop filter or a due time
    can read) with, for a save, the values of the changed fields before it
    (`before`: what "becomes" and the stop-if entry gate read). A backtest
    (automation.insight.backtest) rebuilds the occurrence and the lead from it.

    No constraint on the lead or the workflow, and no index but time: the
    journal keeps the occurrences of deleted leads (a "lead deleted" workflow
    replays them), and every index is paid on every lead save.
    """

    occurred_at = models.DateTimeField()
    lead = models.ForeignKey(
        Lead, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", db_index=False
    )
    kind = models.CharField(max_length=20)
    facts = models.JSONField(default=dict)
    values = models.JSONField(default=dict)
    before = models.JSONField(null=True, blank=True)
    # An occurrence meant for one workflow only (a bulk enrollment's `enroll`):
    # a replay of any other workflow leaves it out.
    workflow = models.ForeignKey(
        Workflow,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        db_index=False,
        null=True,
        blank=True,
    )

    class Meta:
        verbose_name_plural = "journal entries"
        indexes = [
            # A backtest's replay: the journal of [since, until) in time order, read in
            # keyset pages (occurred_at, id); the daily prune deletes below a time.
            models.Index(fields=["occurred_at", "id"], name="journal_time_idx"),
        ]

    def __str__(self):
        return f"{self.kind} of lead {self.lead_id} at {self.occurred_at:%Y-%m-%d %H:%M:%S}"


class BacktestStatus(models.TextChoices):
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Backtest(models.Model):
    """A replay of the journal through one workflow (saved or a draft document), and
    its result: what the workflow would have done over [since, until). Nothing else
    is stored by it, nothing sent (automation.insight.backtest)."""

    workflow = models.ForeignKey(
        Workflow, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    document = models.JSONField(
        null=True, blank=True, help_text="The draft workflow document replayed (no workflow)."
    )
    since = models.DateTimeField()
    until = models.DateTimeField()
    status = models.CharField(max_length=10, choices=BacktestStatus, default=BacktestStatus.RUNNING)
    progress = models.FloatField(default=0.0)
    cancel_requested = models.BooleanField(default=False)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Backtest #{self.pk} ({self.status})"
