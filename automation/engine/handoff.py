"""Handing entries to django-q2 workers: by id, in batches, when the transaction commits.

The engine hands off the immediate entries it wrote, the dispatcher what came
due, the runner the external entries of a batch. The task is named by its
dotted path: nothing here imports the execution layer that runs it.
"""

from django.db import transaction
from django_q.tasks import async_task

# Entries per django-q2 task: batching keeps the broker off the critical path
# (a task costs a few ms of broker and worker overhead; an internal action about
# one ms of SQL). 50 drained FIELD entries 1.5x as fast as 20 (bench/dispatch.py).
# External entries of a batch run one per task (automation.execution.runner.run_entries).
BATCH = 50
TASK = "automation.execution.tasks.run_entries"


def enqueue(entry_ids):
    """Hand entries to django-q2 workers now, in batches."""
    ids = list(entry_ids)
    for start in range(0, len(ids), BATCH):
        async_task(TASK, ids[start : start + BATCH])


def at_commit(entry_ids):
    """Hand entries to workers once the current transaction commits (now, outside one)."""
    ids = list(entry_ids)
    if ids:
        transaction.on_commit(lambda: enqueue(ids))
