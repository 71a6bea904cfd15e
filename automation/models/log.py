"""The rows that record every run: Trigger, LogEntry (queue and log at once), Notification."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from automation.constants import (
    OUTREACH_CHANNELS,
    ActionType,
    EntryState,
    TriggerOutcome,
)
from automation.models.workflows import Action, Workflow
from leads.models import (
    Lead,
    List,
)


class Trigger(models.Model):
    """A workflow whose conditions matched an occurrence, and what became of it."""

    # No single-column index on workflow or lead: trigger_workflow_time_idx and
    # trigger_lead_time_idx lead with them (and serve the constraint's checks
    # when a workflow is purged). The lead carries no constraint: the log
    # outlives a deleted lead (its "lead deleted" workflows still run).
    workflow = models.ForeignKey(
        Workflow, on_delete=models.CASCADE, related_name="triggers", db_index=False
    )
    lead = models.ForeignKey(
        Lead, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", db_index=False
    )
    occurred_at = models.DateTimeField(default=timezone.now)
    occurrence = models.JSONField(default=dict, help_text="What happened: the occurrence's facts.")
    outcome = models.CharField(max_length=20, choices=TriggerOutcome)
    reason = models.CharField(max_length=300, blank=True)
    chain = models.JSONField(
        default=list,
        blank=True,
        help_text="The workflow ids of the triggers whose actions caused this occurrence, "
        "in order (a workflow repeating itself appears once per repetition).",
    )
    # SPEC C.4: this trigger's iteration number in its chain (the chain held its
    # workflow k >= 2 times: iteration k - 1); 0 when it is not an iteration.
    loop_iteration = models.PositiveIntegerField(default=0)
    # The workflow version it fired under (SPEC C.2; null: before versions were kept).
    version = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        indexes = [
            # Trigger list filtered by workflow (+ date), newest first.
            models.Index(fields=["workflow", "-occurred_at"], name="trigger_workflow_time_idx"),
            # A lead's triggers (lead page), and the rate limit: this lead's triggers of
            # the last 180 s, a few rows, filtered by workflow and outcome.
            models.Index(fields=["lead", "-occurred_at"], name="trigger_lead_time_idx"),
            # Re-enrollment gate: has this lead fired this workflow (since …)? One index
            # probe per workflow (records.enrolled), whatever the lead's history.
            models.Index(
                fields=["lead", "workflow", "-occurred_at"],
                condition=Q(outcome="fired"),
                name="trigger_enrollment_idx",
            ),
            # Loop protection: a workflow's fired iterations of the last 60 minutes, across
            # leads (records.loop_window_count). Only iterations are in it: a few rows.
            models.Index(
                fields=["workflow", "-occurred_at"],
                condition=Q(outcome="fired", loop_iteration__gt=0),
                name="trigger_loop_window_idx",
            ),
        ]

    def __str__(self):
        return (
            f"{self.workflow_id}/{self.lead_id} {self.outcome} {self.occurred_at:%Y-%m-%d %H:%M:%S}"
        )


class LogEntryQuerySet(models.QuerySet):
    def unexecuted(self):
        return self.filter(state=EntryState.PENDING)

    def release(self, reason="released by an operator"):
        """Held entries (flood hold) among these → pending, due as they were. Returns how many."""
        return self.filter(state=EntryState.HELD).update(
            state=EntryState.PENDING, reason=reason, lease_until=None
        )

    def flush_held(self, reason="flushed by an operator (flood hold)", now=None):
        """Held entries among these → flushed. Returns how many."""
        return self.filter(state=EntryState.HELD).update(
            state=EntryState.FLUSHED, reason=reason, finished_at=now or timezone.now()
        )

    def cancel(self, reason, now=None, states=(EntryState.PENDING,)):
        """Pending entries among these (or those in `states`) → cancelled. Returns how many."""
        return self.filter(state__in=states).update(
            state=EntryState.CANCELLED,
            reason=reason,
            finished_at=now or timezone.now(),
            lease_until=None,
        )

    def flush(self, reason="flushed by an operator", now=None):
        """Flush the pending entries among these. Returns (entries flushed, leads affected)."""
        pending = self.unexecuted()
        leads = pending.values("lead_id").distinct().count()
        count = pending.update(
            state=EntryState.FLUSHED,
            reason=reason,
            finished_at=now or timezone.now(),
            lease_until=None,
        )
        return count, leads


class LogEntry(models.Model):
    """One scheduled action: the pending-work queue and its log at once.

    `lease_until` is the dispatcher's claim: a pending
    entry whose lease is in the future has been handed to a worker; a running
    entry whose lease has passed belongs to a worker that died.
    """

    # Workflow and trigger are constrained: an entry's are always there. A
    # workflow is archived, not deleted; purging one deletes its triggers and
    # entries (the indexes below serve the cascades and the constraints' checks).
    # Lead, list and action carry no constraint: the log outlives a deleted
    # lead (a "lead deleted" workflow still runs, from the snapshot in
    # `context`), a deleted list, and an action removed from its workflow (its
    # pending entries are cancelled then; the rest stay, for the audit).
    # Workflow, lead and list get no single-column index: composite indexes
    # lead with them (each index costs every insert of this hot table).
    workflow = models.ForeignKey(
        Workflow, on_delete=models.CASCADE, related_name="log_entries", db_index=False
    )
    action = models.ForeignKey(
        Action,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="log_entries",
        db_index=False,
    )
    # Indexed: the constraint's check when a trigger is deleted, and a trigger's entries.
    trigger = models.ForeignKey(
        Trigger, on_delete=models.CASCADE, null=True, blank=True, related_name="entries"
    )
    lead = models.ForeignKey(
        Lead, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", db_index=False
    )
    list = models.ForeignKey(
        List,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    action_type = models.CharField(max_length=20, choices=ActionType)
    state = models.CharField(max_length=10, choices=EntryState, default=EntryState.PENDING)
    reason = models.CharField(max_length=500, blank=True)
    due_at = models.DateTimeField()
    lease_until = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)
    context = models.JSONField(
        default=dict, blank=True, help_text="Call id, causal chain, lead snapshot when deleted."
    )
    # Random, so unique without a unique index: nothing looks entries up by it,
    # and an index of random keys costs every insert a random page (and, after
    # each checkpoint, a full-page WAL image of it).
    idempotency_key = models.UUIDField(default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    # The workflow version it was created under (SPEC C.2; null: before versions were kept).
    version = models.PositiveIntegerField(null=True, blank=True)

    objects = LogEntryQuerySet.as_manager()

    class Meta:
        verbose_name = "workflow log entry"
        verbose_name_plural = "workflow log entries"
        indexes = [
            # The dispatcher's due query: pending entries by due time.
            models.Index(fields=["due_at"], condition=Q(state="pending"), name="entry_due_idx"),
            # Recovery: running entries whose worker's lease ran out.
            models.Index(
                fields=["lease_until"], condition=Q(state="running"), name="entry_running_lease_idx"
            ),
            # Skip-if-pending, stop-if cancel, lead-page flush: a lead's unexecuted entries.
            models.Index(
                fields=["lead", "workflow"],
                condition=Q(state__in=["pending", "running"]),
                name="entry_lead_unexecuted_idx",
            ),
            # Log list filtered by workflow and date range, newest first.
            models.Index(fields=["workflow", "-created_at"], name="entry_workflow_time_idx"),
            # A lead's log (lead page, filter by lead).
            models.Index(fields=["lead", "-created_at"], name="entry_lead_time_idx"),
            # Log list filtered by list and date range.
            models.Index(fields=["list", "-created_at"], name="entry_list_time_idx"),
            # Global log list by date range (and its default ordering).
            models.Index(fields=["-created_at"], name="entry_time_idx"),
            # The rollup fold (automation.insight.rollups): entries finished in its
            # window, across workflows. Partial: pending and running entries (and
            # so the lead-save's inserts of pending ones) are not in it.
            models.Index(
                fields=["finished_at"],
                condition=Q(finished_at__isnull=False),
                name="entry_finished_idx",
            ),
            # The contact budget (automation.execution.sendtime.Facts): a lead's succeeded
            # outreach entries finished in the last 7 days. Partial: outreach
            # entries that went out are a small part of the log.
            models.Index(
                fields=["lead", "finished_at"],
                condition=Q(state="succeeded", action_type__in=sorted(OUTREACH_CHANNELS)),
                name="entry_lead_contact_idx",
            ),
            # Failure alerts (automation.execution.alerts): a workflow's entries failed in
            # the last 10 minutes. Partial: failed entries are a small part of the log.
            models.Index(
                fields=["workflow", "finished_at"],
                condition=Q(state="failed"),
                name="entry_failed_idx",
            ),
            # Release / Flush of a flood hold: a workflow's held entries.
            models.Index(fields=["workflow"], condition=Q(state="held"), name="entry_held_idx"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.action_type} lead {self.lead_id} {self.state}"


class Notification(models.Model):
    """A notification (loop-disabled workflow, open endpoint, flood hold, failures),
    shown until acknowledged.

    `dedup_key` makes a notification once-only where no conditional UPDATE
    decides it (flood hold, failure alerts: automation.execution.alerts): a
    second insert of the same key fails on the unique constraint.
    """

    workflow = models.ForeignKey(
        Workflow, on_delete=models.CASCADE, related_name="notifications", null=True, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    message = models.TextField()
    chain = models.JSONField(default=list, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    endpoint = models.ForeignKey(
        "automation.Endpoint",
        on_delete=models.SET_NULL,
        related_name="notifications",
        null=True,
        blank=True,
    )
    dedup_key = models.CharField(max_length=100, null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Flood hold and failure alerts: one notification per key (NULLs repeat freely).
            models.UniqueConstraint(fields=["dedup_key"], name="notification_dedup_key_uniq"),
        ]

    def __str__(self):
        return self.message[:80]

    @classmethod
    def notify(
        cls, message, subject, *, workflow_id=None, endpoint_id=None, dedup_key=None, now=None
    ):
        """Store a notification and mail ADMIN_EMAILS when the transaction commits.

        With a `dedup_key` already taken it stores and mails nothing and returns
        None (the unique constraint decides, under concurrency too).
        """
        from django.core.mail import send_mail
        from django.db import IntegrityError, transaction

        try:
            with transaction.atomic():
                notification = cls.objects.create(
                    message=message,
                    workflow_id=workflow_id,
                    endpoint_id=endpoint_id,
                    dedup_key=dedup_key,
                    created_at=now or timezone.now(),
                )
        except IntegrityError:
            return None
        if settings.ADMIN_EMAILS:
            transaction.on_commit(
                lambda: send_mail(subject, message, None, settings.ADMIN_EMAILS, fail_silently=True)
            )
        return notification
