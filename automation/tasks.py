"""Thin django-q2 entry points: they take ids and call the runner."""

import logging

from django_q.tasks import async_task

log = logging.getLogger(__name__)

# Entries per django-q2 task: batching keeps the broker off the critical path
# (a task costs ~1 ms of broker work; an internal action a few ms of SQL).
BATCH = 20


def enqueue(entry_ids):
    """Hand entries to django-q2 workers, in batches."""
    ids = list(entry_ids)
    for start in range(0, len(ids), BATCH):
        async_task("automation.tasks.run_entries", ids[start : start + BATCH])


def run_entries(entry_ids):
    """Run each entry; one that raises is recorded failed, never left for the others to wait on."""
    from automation import runner

    for entry_id in entry_ids:
        try:
            runner.run_entry(entry_id)
        except Exception as exc:
            log.exception("entry %s raised outside its action", entry_id)
            runner.record_crash(entry_id, exc)
