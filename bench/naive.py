"""The naive design, the dispatch baseline: one django-q2 task per entry, no batching,
no dispatcher.

`python -m bench.naive` (cwd = repo root) enqueues every pending entry with the
broker its environment configures (REDIS_URL or the ORM broker), in one
transaction; the cluster imports `bench.naive.run_one` to run them.
"""


def run_one(entry_id):
    from automation.execution import runner

    return runner.run_entry(entry_id)


def enqueue(entry_ids):
    from django_q.tasks import async_task

    for entry_id in entry_ids:
        async_task("bench.naive.run_one", entry_id)


def main():
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    django.setup()
    from django.db import transaction

    from automation.constants import EntryState
    from automation.models import LogEntry

    ids = list(
        LogEntry.objects.filter(state=EntryState.PENDING)
        .order_by("id")
        .values_list("pk", flat=True)
    )
    with transaction.atomic():
        enqueue(ids)
    print(f"enqueued {len(ids)} tasks")


if __name__ == "__main__":
    main()
