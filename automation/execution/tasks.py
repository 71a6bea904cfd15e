"""Thin django-q2 entry points: they take ids and call the runner."""

from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from automation.engine import handoff
from automation.execution import runner


def run_entries(entry_ids):
    """The django-q2 task: run these entries (see automation.execution.runner.run_entries)."""
    runner.run_entries(entry_ids)


def purge_deleted_workflow(workflow_id):
    """The django-q2 task queued once a workflow's deletion has committed: delete
    what a save wrote for it from a rule index that still held it (any outcome:
    rate-limited triggers and skipped entries never reach the runner)."""
    runner.purge_deleted_workflow(workflow_id)


def workflow_deleted(sender, instance, **kwargs):
    """post_delete of a Workflow: purge its stragglers after the deletion commits."""

    workflow_id = instance.pk
    transaction.on_commit(
        lambda: async_task("automation.execution.tasks.purge_deleted_workflow", workflow_id)
    )


def run_now(entries, now=None):
    """Make the pending entries among `entries` (a LogEntry queryset) due now and
    hand them to workers when the transaction commits. Returns how many."""
    now = now or timezone.now()
    ids = list(entries.unexecuted().values_list("pk", flat=True))
    entries.model.objects.filter(pk__in=ids).update(due_at=now, lease_until=None)
    handoff.at_commit(ids)
    return len(ids)


def fold_rollups():
    """The django-q2 schedule "Fold workflow rollups" (every minute): see
    automation.insight.rollups.fold."""
    from automation.insight import rollups

    return rollups.fold()
