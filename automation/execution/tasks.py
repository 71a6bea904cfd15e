"""Thin django-q2 entry points: they take ids and call the runner."""

from django.utils import timezone

from automation.engine import handoff
from automation.execution import runner


def run_entries(entry_ids):
    """The django-q2 task: run these entries (see automation.execution.runner.run_entries)."""
    runner.run_entries(entry_ids)


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


def run_enrollment(job_id, token):
    """The django-q2 task of a bulk enrollment: one slice (automation.execution.enrollment)."""
    from automation.execution import enrollment

    return enrollment.run(job_id, token)
