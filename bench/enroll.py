"""8. Bulk enrollment: leads per second at rate=1000 and unthrottled (SPEC C.6).

In this process, no cluster: `automation.execution.enrollment.run` is the
django-q2 task's own code (one slice long enough for the whole job), with the
real clock and sleep. The world: N leads in one list, all in California; one
workflow "state is CA" with a STATUS action delayed a day, so every lead fires
(a trigger and a pending entry written per lead: the full gate and write path)
and nothing runs meanwhile. Its flood limit is lifted: the flood hold would
hold the entries after the first 1,000 in a minute, which writes the same rows.
Each run enrolls the same leads anew (its own job; re-enrollment "always";
the rate limit's 9 triggers per lead in 180 s are not reached in two runs).
"""

import time

TARGET = 1000  # leads per second (the floor)


def world(n):
    from automation.models import Workflow
    from bench import world as bench_world
    from leads.models import Lead

    bench_world.reset()
    w = bench_world.base_world()
    lead_ids = bench_world.make_leads(n, w.lists[0])
    Lead.objects.filter(pk__in=lead_ids).update(state="CA")
    (workflow_id,), _ = bench_world.make_workflows(
        [
            {
                "name": "Enroll bench",
                "all_campaigns": True,
                "conditions": [
                    ("LEAD_FIELDS", {"field": "state", "operator": "equals", "value": "CA"})
                ],
                "sets": [(1, [("STATUS", {"status": "FOLLOW"})])],
            }
        ]
    )
    Workflow.objects.filter(pk=workflow_id).update(flood_limit=10**9)
    return Workflow.objects.get(pk=workflow_id)


def enroll(workflow, rate):
    """(leads, seconds, outcomes) of one job run to its end in this process."""
    from django_q import tasks

    from automation.execution import enrollment as jobs
    from automation.models import Enrollment

    handed = []
    real = jobs.async_task
    jobs.async_task = lambda *args: handed.append(args)  # this process runs it, not a worker
    try:
        job = jobs.start(workflow, {}, rate)
    finally:
        jobs.async_task = real
    assert handed and tasks  # the hand-off to django-q2 happened (here: kept)
    t0 = time.monotonic()
    result = jobs.run(job.pk, job.token, slice_seconds=10**6)
    seconds = time.monotonic() - t0
    job = Enrollment.objects.get(pk=job.pk)
    assert result == "done" and job.done == job.matched, (result, job.done, job.matched)
    return job.done, seconds, job.outcomes


def run(opts):
    n = 3_000 if opts.quick else 20_000  # about 45 s in all: the run stays in its budget
    workflow = world(n)
    rows, table = (
        [],
        ["| Rate asked | Leads | Seconds | Achieved | Outcomes |", "|---|---|---|---|---|"],
    )
    from automation.models.enrollment import MAX_RATE

    for label, rate in (("1000", 1000), (f"unthrottled ({MAX_RATE})", MAX_RATE)):
        done, seconds, outcomes = enroll(workflow, rate)
        achieved = done / seconds
        table.append(f"| {label} | {done} | {seconds:.1f} | {achieved:,.0f}/s | {outcomes} |")
        met = achieved >= TARGET * 0.95 if rate == 1000 else achieved >= TARGET
        rows.append(
            {
                "metric": f"Bulk enrollment at rate={label}: leads/s",
                "value": f"{achieved:,.0f}/s ({done} leads in {seconds:.1f} s)",
                "target": "≈ 1,000/s (the rate)" if rate == 1000 else "≥ 1,000/s",
                "met": met,
            }
        )
    notes = [__doc__.split("\n\n", 1)[1].strip()]
    return {"title": "8. Bulk enrollment", "rows": rows, "table": table, "notes": notes}
