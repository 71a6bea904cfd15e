"""3. Dispatch throughput, and 6. worker memory.

N pending entries, all due, each a FIELD action adding 1 to the lead's
`custom.n` (an internal action: lead row locked, effect and log in one
transaction), are drained by a real cluster as `make run` starts it: a
`manage.py qcluster` subprocess with Q_WORKERS=2 and a `manage.py dispatcher`
(its default interval). Entries/s = N ÷ (last finished_at − first started_at).

Baseline, same cluster settings: the naive design — one django-q2 task per
entry (`bench.naive.run_one` → `automation.execution.runner.run_entry`), no batching, no
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


def drain(n, broker, opts, label, naive=False, recycle=True):
    """Prepare N entries, start the processes, wait until drained. Returns the outcome."""
    began = time.monotonic()
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
        qc = cluster.start(
            f"{label}-qcluster",
            ["qcluster"],
            broker,
            opts.log_dir,
            None if recycle else {"DJANGO_SETTINGS_MODULE": "bench.norecycle_settings"},
        )
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
        seconds=time.monotonic() - began,
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


SIZES = (100_000, 50_000, 30_000, 20_000, 10_000)
NAIVE_SLOWER = 5  # planning assumption: the naive design is up to 5× slower per entry
ENQUEUE_SECONDS = 0.0006  # per naive task, measured (ORM 0.3 ms, Redis 0.6 ms)


def estimate(n, n_naive, per_entry, fixed, memory_run, repeats):
    """Seconds for one broker: `repeats` batched drains (+ the memory run) and naive ones."""
    batched = (repeats + memory_run) * (fixed + n * per_entry)
    naive = repeats * (fixed + n_naive * (NAIVE_SLOWER * per_entry + ENQUEUE_SECONDS))
    return batched + naive


def choose(opts, per_entry, fixed, ceiling, memory_run):
    """The largest N (≤ ceiling) whose runs fit in what is left of the time budget."""
    left = opts.budget - (time.monotonic() - opts.started) - 30  # 30 s for the rest
    for n in (s for s in SIZES if s <= ceiling):
        n_naive = min(opts.naive_n, n)
        if estimate(n, n_naive, per_entry, fixed, memory_run, opts.dispatch_repeats) <= left:
            return n, n_naive, left
    return None, None, left


def run(opts):
    notes = []
    brokers = ["orm"]
    if not opts.skip_redis:
        if cluster.redis_available():
            brokers.append("redis")
        else:
            notes.append(f"Redis at {cluster.redis_url()} is not reachable: ORM broker only.")
    plan = []
    if opts.dispatch_n_fixed:
        plan.append(f"N = {opts.dispatch_n:,} (given), naive {opts.naive_n:,}.")
        per_entry = fixed = None
    else:
        # A short drain first: warms PostgreSQL and tells how fast this machine is now.
        cal = drain(opts.calibration_n, "orm", opts, "orm-calibration")
        per_entry, fixed = cal["span"] / cal["n"], cal["seconds"] - cal["span"]
        plan.append(
            f"Calibration: {cal['n']:,} entries drained at {cal['rate']:,.0f}/s "
            f"({fixed:.0f} s of setup, start and stop per run)."
        )
    rows, table, results = [], [], {}
    ceiling = opts.dispatch_n
    for broker in brokers:
        memory_run = broker == "orm"
        if per_entry is None:
            n, n_naive = opts.dispatch_n, opts.naive_n
        else:
            n, n_naive, left = choose(opts, per_entry, fixed, ceiling, memory_run)
            if n is None:
                msg = (
                    f"{broker.upper()}: even {SIZES[-1]:,} entries would not fit in the "
                    f"{max(0, left):.0f} s left of the {opts.budget / 60:.0f}-minute budget"
                )
                if broker == "orm":
                    n, n_naive = SIZES[-1], min(opts.naive_n, SIZES[-1])
                    plan.append(msg + f": ran {n:,} anyway.")
                else:
                    plan.append(msg + ": skipped.")
                    print(f"  {broker}: skipped (time budget)", flush=True)
                    continue
            else:
                plan.append(
                    f"{broker.upper()}: N = {n:,} (naive {n_naive:,}), the largest of "
                    f"{', '.join(f'{s:,}' for s in SIZES if s <= ceiling)} whose "
                    f"{opts.dispatch_repeats} + {opts.dispatch_repeats} runs fit in the {left:.0f} s left of the "
                    f"{opts.budget / 60:.0f}-minute budget."
                )
        started = time.monotonic()
        batched = [
            drain(n, broker, opts, f"{broker}-batched-{i + 1}")
            for i in range(opts.dispatch_repeats)
        ]
        naive = [
            drain(n_naive, broker, opts, f"{broker}-naive-{i + 1}", naive=True)
            for i in range(opts.dispatch_repeats)
        ]
        memory = drain(n, broker, opts, f"{broker}-memory", recycle=False) if memory_run else None
        results[broker] = (n, batched, naive, memory)
        if per_entry is not None:
            # Plan the next broker from what this one really took.
            done = (
                n * opts.dispatch_repeats
                + n_naive * opts.dispatch_repeats * NAIVE_SLOWER
                + (n if memory_run else 0)
            )
            per_entry = (
                time.monotonic() - started - fixed * (2 * opts.dispatch_repeats + memory_run)
            ) / done
            ceiling = n
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
                "metric": f"… ÷ naive design (1 task per entry, {n_naive:,} entries, "
                f"{broker.upper()})",
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
                    f"{r['cpu_processes'] / r['n'] * 1000:.2f} ms | "
                    f"{r['cpu_postgres'] / r['n'] * 1000:.2f} ms | {check(r)} |"
                )
        if not correct:
            notes.append(f"**{broker.upper()}: not every entry ran exactly once** (see the table).")
    table = [
        "| Broker | Design | Entries | First start → last finish | Entries/s | Wall "
        "(processes started → drained) | CPU/entry: our processes | CPU/entry: PostgreSQL "
        "| Every entry once, effect once |",
        "|---|---|---|---|---|---|---|---|---|",
        *table,
    ]
    notes = [
        " ".join(plan),
        f"Each design run {opts.dispatch_repeats}× per broker; the summary gives medians. Entries are "
        "inserted pending and due (no lease) and the tables VACUUM ANALYZEd before each "
        "run; the naive design's tasks are enqueued before its cluster starts (not timed "
        "in its rate). 'Every entry once' checks every entry succeeded at its first "
        "attempt and every lead's `custom.n` is exactly 1. CPU per entry: 'our processes' "
        "is the user+system time of qcluster (main, sentinel, workers, pusher, monitor) "
        "and the dispatcher, start-up included (getrusage of waited-for children); "
        "'PostgreSQL' sums /proc/<pid>/stat of the backends serving this database.",
        *notes,
    ]
    return {
        "title": "3. Dispatch throughput",
        "rows": rows,
        "table": table,
        "notes": notes,
        "extra": memory_section(results),
    }


def check(r):
    if r["ok"]:
        return "yes"
    return f"**NO**: {r['succeeded']} succeeded, {r['effects']} effects, max attempts {r['max_attempts']}"


def memory_section(results):
    """6. Worker memory: the ORM run with recycling off, and the others for reference."""
    table = [
        "| Run | Entries | Idle | After 5 % | Peak | End | Worker recycles |",
        "|---|---|---|---|---|---|---|",
    ]
    for broker, (_n, batched, naive, memory) in results.items():
        runs = [(f"{broker.upper()} batched, recycling off", memory)] if memory else []
        runs += [(f"{broker.upper()} batched #{i + 1}", r) for i, r in enumerate(batched)]
        runs += [(f"{broker.upper()} naive #{i + 1}", r) for i, r in enumerate(naive)]
        for label, r in runs:
            table.append(
                f"| {label} | {r['n']:,} | {mib(r['rss_idle'])} | {mib(r['rss_warm'])} | "
                f"{mib(r['rss_peak'])} | {mib(r['rss_end'])} | {r['recycles']} |"
            )
    rows = []
    if "orm" in results:
        n, _, _, memory = results["orm"]
        growth = memory["rss_end"] / memory["rss_warm"] if memory["rss_warm"] else float("nan")
        rows.append(
            {
                "metric": f"Worker RSS (2 workers, no recycling) after draining {n:,} entries "
                "÷ after the first 5 %",
                "value": f"{ratio(growth)} ({mib(memory['rss_warm'])} → {mib(memory['rss_end'])}; "
                f"idle {mib(memory['rss_idle'])})",
                "target": "no growth beyond noise (≤ 1.1×)",
                "met": growth <= 1.1 and memory["recycles"] == 0,
            }
        )
    return {
        "title": "6. Worker memory",
        "rows": rows,
        "table": table,
        "notes": [
            "Sum of both workers' VmRSS (/proc/<pid>/status). 'Idle' is right after the "
            "cluster started, before the workers imported the engine, so growth is judged "
            "from 'after 5 %' to 'end'. The judged run turns django-q2's recycling off "
            "(bench/norecycle_settings.py: the same two workers run every task); with the "
            "default (a worker is replaced after 500 tasks; a batched task holds 20 "
            "entries, a naive one 1) the end figure is of young workers."
        ],
    }


def mib(kb):
    return f"{(kb or 0) / 1024:.0f} MiB"
