"""3. Dispatch throughput, and 6. worker memory.

N pending entries, all due, each a FIELD action adding 1 to the lead's
`custom.n` (an internal action: lead row locked, effect and log in one
transaction), are drained by a real cluster as `make run` starts it: a
`manage.py qcluster` subprocess with Q_WORKERS=2 and a `manage.py dispatcher`
(its default interval). Entries/s = N ÷ (last finished_at − first started_at).

Baseline, same cluster settings: the naive design — one django-q2 task per
entry (`bench.naive.run_one` → `automation.runner.run_entry`), no batching, no
dispatcher; the tasks are enqueued before the cluster starts (which favours it).

Memory: the sum of the worker processes' VmRSS (/proc/<pid>/status) when the
cluster is idle, after the first 5 % of the drain, its peak, and at the end.
django-q2 recycles a worker after 500 tasks (its default `recycle`), so the
workers measured at the end are not those measured at the start; the count of
recycles is reported.
"""

import subprocess
import sys
import time

from django.db import connection

from bench import cluster, world
from bench.stats import median, ratio

ADD_ONE = ("FIELD", {"field": "custom.n", "op": "add", "value": 1})


def prepare(n):
    """N leads and N due entries of one FIELD action (its workflow has no conditions)."""
    world.reset()
    w = world.base_world()
    lead_ids = world.make_leads(n, w.lists[0])
    _, (action_id,) = world.make_workflows(
        [{"name": "Dispatch bench", "all_campaigns": True, "sets": [(0, [ADD_ONE])]}]
    )
    world.make_entries(action_id, lead_ids, "now() - interval '1 second'", w.lists[0])
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE automation_logentry")
        cursor.execute("VACUUM ANALYZE leads_lead")
    return lead_ids


def unfinished():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM automation_logentry WHERE state IN ('pending', 'running')"
        )
        return cursor.fetchone()[0]


def outcome():
    """Counts, span and effects of the drain, read back from the database."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT count(*), count(*) FILTER (WHERE state = 'succeeded'),
                      max(attempts), min(started_at), max(finished_at)
               FROM automation_logentry"""
        )
        total, succeeded, max_attempts, first, last = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM leads_lead WHERE (custom_fields->>'n')::int = 1")
        (effects,) = cursor.fetchone()
    span = (last - first).total_seconds() if first and last else float("nan")
    return {
        "n": total,
        "succeeded": succeeded,
        "max_attempts": max_attempts,
        "effects": effects,
        "span": span,
        "rate": succeeded / span if span else float("nan"),
    }


def drain(n, broker, opts, label, naive=False):
    """Prepare N entries, start the processes, wait until drained. Returns the outcome."""
    prepare(n)
    if broker == "redis":
        cluster.flush_redis()
    procs = []
    enqueue_seconds = None
    backends = cluster.BackendCpu()
    try:
        if naive:
            t0 = time.monotonic()
            subprocess.run(
                [sys.executable, "-m", "bench.naive"],
                cwd=world.REPO,
                env=cluster.env_for(broker),
                check=True,
                capture_output=True,
            )
            enqueue_seconds = time.monotonic() - t0
        backends.start()
        cpu_before = cluster.children_cpu()
        qc = cluster.start(f"{label}-qcluster", ["qcluster"], broker, opts.log_dir)
        procs.append(qc)
        pids = cluster.worker_pids(qc)
        time.sleep(1)
        rss_idle = cluster.workers_rss_kb(pids)
        started = time.monotonic()
        if not naive:
            procs.append(cluster.start(f"{label}-dispatcher", ["dispatcher"], broker, opts.log_dir))
        rss_warm = rss_peak = None
        timeout = max(120, n / 50)
        left = n
        while left and time.monotonic() - started < timeout:
            time.sleep(1)
            left = unfinished()
            backends.sample()
            rss = cluster.workers_rss_kb(cluster.current_workers(qc))
            rss_peak = max(rss_peak or 0, rss)
            if rss_warm is None and left <= 0.95 * n:
                rss_warm = rss
            for proc in procs:
                if not proc.alive():
                    raise RuntimeError(f"{proc.name} exited: {proc.log()[-2000:].decode()}")
        wall = time.monotonic() - started
        rss_end = cluster.workers_rss_kb(cluster.current_workers(qc))
        recycles = len(cluster.READY.findall(qc.log())) - cluster.WORKERS
        backends.sample()
    finally:
        for proc in reversed(procs):
            proc.stop()
    cpu_processes = cluster.children_cpu() - cpu_before
    result = outcome()
    result.update(
        wall=wall,
        left=left,
        enqueue=enqueue_seconds,
        rss_idle=rss_idle,
        rss_warm=rss_warm,
        rss_peak=rss_peak,
        rss_end=rss_end,
        recycles=recycles,
        cpu_processes=cpu_processes,
        cpu_postgres=backends.seconds(),
    )
    ok = result["succeeded"] == n and result["effects"] == n and result["max_attempts"] == 1
    result["ok"] = ok
    print(
        f"  {label}: {result['succeeded']}/{n} succeeded in {result['span']:.1f} s "
        f"({result['rate']:.0f}/s), wall {wall:.1f} s, effects {result['effects']}, "
        f"max attempts {result['max_attempts']}, RSS idle/warm/peak/end "
        f"{rss_idle // 1024}/{(rss_warm or 0) // 1024}/{(rss_peak or 0) // 1024}/"
        f"{rss_end // 1024} MiB, {recycles} recycles, CPU per entry: processes "
        f"{cpu_processes / n * 1000:.2f} ms, PostgreSQL {result['cpu_postgres'] / n * 1000:.2f} ms"
        + (f", enqueue {enqueue_seconds:.1f} s" if naive else ""),
        flush=True,
    )
    return result


def run(opts):
    brokers = ["orm"]
    notes = []
    if not opts.skip_redis:
        if cluster.redis_available():
            brokers.append("redis")
        else:
            notes.append(f"Redis at {cluster.redis_url()} is not reachable: ORM broker only.")
    rows, table, results, took = [], [], {}, {}
    n, n_naive = opts.dispatch_n, opts.naive_n
    for broker in brokers:
        started = time.monotonic()
        if results:
            # Another broker takes about as long as the first one did: skip it if that
            # would overrun the run's time budget.
            needed = max(took.values())
            left = opts.budget - (started - opts.started)
            if needed > left:
                notes.append(
                    f"{broker.upper()} broker skipped: it would take about {needed:.0f} s and "
                    f"{max(0, left):.0f} s of the {opts.budget / 60:.0f}-minute budget are left."
                )
                print(f"  {broker}: skipped (time budget)", flush=True)
                continue
        batched = [
            drain(n, broker, opts, f"{broker}-batched-{i + 1}")
            for i in range(opts.dispatch_repeats)
        ]
        naive = [
            drain(n_naive, broker, opts, f"{broker}-naive-{i + 1}", naive=True)
            for i in range(opts.dispatch_repeats)
        ]
        results[broker] = (batched, naive)
        took[broker] = time.monotonic() - started
        rate = median([r["rate"] for r in batched])
        naive_rate = median([r["rate"] for r in naive])
        correct = all(r["ok"] for r in batched + naive)
        rows.append(
            {
                "metric": f"Dispatch throughput, {n:,} due FIELD entries, {broker.upper()} broker, "
                "qcluster (2 workers) + dispatcher",
                "value": f"{rate:,.0f} entries/s",
                "target": "≥ 1,000/s",
                "met": rate >= 1000 and correct,
            }
        )
        rows.append(
            {
                "metric": f"… ÷ naive design (1 task per entry, {n_naive:,} entries, {broker.upper()})",
                "value": f"{ratio(rate / naive_rate)} ({naive_rate:,.0f} entries/s naive)",
                "target": "≥ 5×",
                "met": rate / naive_rate >= 5,
            }
        )
        for kind, runs in (("batched + dispatcher", batched), ("naive", naive)):
            for r in runs:
                table.append(
                    f"| {broker.upper()} | {kind} | {r['n']:,} | {r['span']:.1f} s | "
                    f"{r['rate']:,.0f}/s | {r['wall']:.1f} s | "
                    f"{'yes' if r['ok'] else '**NO**: ' + str(r['succeeded']) + ' succeeded, ' + str(r['effects']) + ' effects'} |"
                )
        if not correct:
            notes.append(f"**{broker.upper()}: not every entry ran exactly once** (see the table).")
    table = [
        "| Broker | Design | Entries | First start → last finish | Entries/s | Wall (processes started → drained) | All succeeded once, effect applied once |",
        "|---|---|---|---|---|---|---|",
        *table,
    ]
    # 6. Memory: the first batched ORM run (the biggest drain).
    mem_rows, mem_table = (
        [],
        [
            "| Run | Idle | After 5 % | Peak | End | Worker recycles |",
            "|---|---|---|---|---|---|",
        ],
    )
    for broker, (batched, naive) in results.items():
        for kind, runs in (("batched", batched), ("naive", naive)):
            for i, r in enumerate(runs):
                mem_table.append(
                    f"| {broker.upper()} {kind} #{i + 1} | {r['rss_idle'] / 1024:.0f} MiB | "
                    f"{(r['rss_warm'] or 0) / 1024:.0f} MiB | {(r['rss_peak'] or 0) / 1024:.0f} MiB | "
                    f"{r['rss_end'] / 1024:.0f} MiB | {r['recycles']} |"
                )
    first = results["orm"][0][0]
    growth = first["rss_end"] / first["rss_warm"] if first["rss_warm"] else float("nan")
    mem_rows.append(
        {
            "metric": f"Worker RSS (2 workers) after draining {n:,} entries ÷ after the first 5 %",
            "value": f"{ratio(growth)} ({first['rss_warm'] / 1024:.0f} → {first['rss_end'] / 1024:.0f} MiB; "
            f"idle {first['rss_idle'] / 1024:.0f} MiB)",
            "target": "no growth beyond noise (≤ 1.1×)",
            "met": growth <= 1.1,
        }
    )
    notes.insert(
        0,
        f"Each design run {opts.dispatch_repeats}× per broker; the summary gives medians. "
        "Entries are inserted pending and due (no lease) and the tables VACUUM ANALYZEd "
        "before each run; the naive design's tasks are enqueued before its cluster starts "
        "(not timed in its rate). 'All succeeded once' checks every entry succeeded with "
        "one attempt and every lead's `custom.n` is exactly 1.",
    )
    return {
        "title": "3. Dispatch throughput",
        "rows": rows,
        "table": table,
        "notes": notes,
        "extra": {
            "title": "6. Worker memory",
            "rows": mem_rows,
            "table": mem_table,
            "notes": [
                "Sum of both workers' VmRSS. 'Idle' is right after the cluster started (the "
                "workers have not imported the engine yet), so the baseline is 'after 5 %'. "
                "django-q2 replaces a worker after 500 tasks (default `recycle`): a batched "
                "task holds 20 entries, a naive one 1."
            ],
        },
    }
