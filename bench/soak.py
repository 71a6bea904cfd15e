"""`make soak`: steady load on the running product while a random process is SIGKILLed.

    .venv/bin/python bench/soak.py                        # 10 min, ORM broker
    .venv/bin/python bench/soak.py --redis redis://127.0.0.1:6379/12
    .venv/bin/python bench/soak.py --minutes 2 --every 20

Steps:
1. Database: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/crm_soak),
   created if missing and migrated; it refuses a name without "soak" in it, as
   it empties the tables it writes (and, with --redis, flushes that Redis db).
2. Start `manage.py run_all` (web on --addr, `workers`, dispatcher), as
   `make run` does, with a local receiver for INTEGRATION requests (a thread
   of this process that records each request's Idempotency-Key).
3. Load, for --minutes: every second --rate FIELD entries due now (each adds
   1 to its lead's counter) and, every 5 s, one INTEGRATION entry.
4. Every --every seconds, SIGKILL one process at random: a worker, the
   pusher, the monitor, the sentinel, the cluster's main process, the
   dispatcher, or the web server. run_all and `workers` bring them back.
5. Stop the load, wait up to 3 min for every entry to end, stop run_all.
6. Report: lost (entries not succeeded, counters short), doubled (counters
   over), external requests repeated (same key) and with a foreign key,
   p50/p99/max lateness (finished - due), and the longest stall (the longest
   time no entry finished while entries were due).
"""

import argparse
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/crm_soak"
ROLES = ("worker", "pusher", "monitor", "sentinel", "cluster main", "dispatcher", "web")
LEADS = 1000


def options(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--every", type=float, default=20, help="seconds between kills")
    parser.add_argument("--rate", type=int, default=20, help="FIELD entries per second")
    parser.add_argument("--redis", default="", help="a Redis URL: use the Redis broker")
    parser.add_argument("--addr", default="127.0.0.1:8024")
    parser.add_argument("--seed", type=int, default=19)
    return parser.parse_args(argv)


def setup(opts):
    from bench import world

    url = os.environ.setdefault("DATABASE_URL", DEFAULT_URL)
    os.environ.pop("REDIS_URL", None)  # this process writes rows only; it never enqueues
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    if "soak" not in world.database_name(url):
        sys.exit(f"soak: refusing to empty the tables of {url!r} (no 'soak' in its name)")
    world.ensure_database(url)
    world.migrate(url)
    import django

    django.setup()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE automation_logentry, automation_trigger, automation_heartbeat, "
            "automation_workflow, automation_endpoint, leads_lead, leads_list, "
            "leads_campaign, leads_status, django_q_ormq, django_q_task CASCADE"
        )
    if opts.redis:
        import redis

        redis.Redis.from_url(opts.redis).flushdb()


def make_world(receiver_url):
    from automation.models import Action, ActionSet, Endpoint, Workflow
    from leads.models import Campaign, CustomField, Lead, List, Status

    status = Status.objects.create(code="NEW", name="New lead")
    CustomField.objects.create(name="hits", label="Hits", type="number")
    lead_list = List.objects.create(name="Soak", campaign=Campaign.objects.create(name="Soak"))
    leads = Lead.objects.bulk_create(
        Lead(list=lead_list, status=status, first_name="Ada", phone_number=f"+1310555{i:04d}")
        for i in range(LEADS)
    )

    def action(action_type, config):
        workflow = Workflow.objects.create(name=f"Soak {action_type}", all_campaigns=True)
        action_set = ActionSet.objects.create(workflow=workflow)
        return Action.objects.create(action_set=action_set, type=action_type, config=config)

    Endpoint.objects.create(name="Soak hook", url=receiver_url, timeout_seconds=10)
    field = action("FIELD", {"field": "custom.hits", "op": "add", "value": 1})
    integration = action("INTEGRATION", {"endpoint": "Soak hook"})
    return leads, field, integration


def write_entries(action, leads):
    from django.utils import timezone

    from automation.constants import EntryState
    from automation.models import LogEntry

    workflow = action.action_set.workflow
    now = timezone.now()
    LogEntry.objects.bulk_create(
        LogEntry(
            workflow=workflow,
            action=action,
            lead_id=lead.pk,
            list_id=lead.list_id,
            action_type=action.type,
            state=EntryState.PENDING,
            due_at=now,
            context={"chain": [workflow.pk]},
        )
        for lead in leads
    )


def target(role, run_all_log):
    """The pid of `role` now, or None (from the heartbeats, or run_all's log for web)."""
    from django.utils import timezone

    from automation.constants import HeartbeatRole
    from automation.models import Heartbeat

    if role == "web":
        found = re.findall(r"started web \(pid (\d+)\)", run_all_log.read_text())
        return int(found[-1]) if found else None
    fresh = timezone.now() - timedelta(seconds=5)
    if role == "dispatcher":
        row = Heartbeat.objects.filter(role=HeartbeatRole.DISPATCHER, seen_at__gte=fresh).first()
        return row and row.info.get("pid")
    row = (
        Heartbeat.objects.filter(role=HeartbeatRole.CLUSTER, seen_at__gte=fresh)
        .order_by("-seen_at")
        .first()
    )
    if row is None:
        return None
    info = row.info
    if role == "worker":
        return random.choice(info["workers"]) if info["workers"] else None
    return info[{"cluster main": "main"}.get(role, role)]


def report(opts, receiver, started_at, kills):
    from django.db import connection
    from django.db.models import Count

    from automation.constants import EntryState
    from automation.models import LogEntry
    from leads.models import Lead

    states = dict(LogEntry.objects.values_list("state").annotate(n=Count("id")))
    total = sum(states.values())
    expected = Counter(
        LogEntry.objects.filter(action_type="FIELD").values_list("lead_id", flat=True)
    )
    hits = dict(Lead.objects.values_list("pk", "custom_fields__hits"))
    short = sum(max(0, n - (hits.get(lead) or 0)) for lead, n in expected.items())
    over = sum(max(0, (hits.get(lead) or 0) - expected.get(lead, 0)) for lead in hits)
    keys = {
        str(k)
        for k in LogEntry.objects.filter(action_type="INTEGRATION").values_list(
            "idempotency_key", flat=True
        )
    }
    sent = Counter(r.headers.get("Idempotency-Key") for r in receiver.requests)
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s),
                      percentile_cont(0.99) WITHIN GROUP (ORDER BY s), max(s)
               FROM (SELECT extract(epoch FROM finished_at - due_at) s
                     FROM automation_logentry WHERE finished_at IS NOT NULL) t"""
        )
        p50, p99, worst = cursor.fetchone()
        cursor.execute(
            """SELECT max(gap) FROM (
                 SELECT extract(epoch FROM finished_at - lag(finished_at) OVER (ORDER BY finished_at)) gap
                 FROM automation_logentry WHERE finished_at IS NOT NULL) t"""
        )
        (stall,) = cursor.fetchone()
    lines = [
        f"soak {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, broker {'redis' if opts.redis else 'orm'}, "
        f"{opts.minutes:g} min, a kill every {opts.every:g} s, {opts.rate} FIELD entries/s "
        f"+ 1 INTEGRATION / 5 s",
        f"kills ({len(kills)}): " + ", ".join(f"{k}x {role}" for role, k in Counter(kills).items()),
        f"entries: {total}; states: {states}",
        f"lost: {total - states.get(EntryState.SUCCEEDED, 0)} entries not succeeded, "
        f"{short} FIELD effects missing",
        f"doubled: {over} FIELD effects over; external requests with a foreign key: "
        f"{len(set(sent) - keys)}; external entries never sent: {len(keys - set(sent))}",
        f"external requests repeated with the same key: {sum(n - 1 for n in sent.values())}",
        f"lateness (finished - due): p50 {p50 or 0:.1f} s, p99 {p99 or 0:.1f} s, "
        f"max {worst or 0:.1f} s",
        f"longest stall (no entry finished): {stall or 0:.1f} s",
        f"wall time: {time.monotonic() - started_at:.0f} s",
    ]
    return "\n".join(lines)


def main(argv=None):
    opts = options(argv)
    random.seed(opts.seed)
    setup(opts)
    from django.db.models import Q

    from automation.constants import EntryState
    from automation.models import LogEntry
    from tests.httpserver import HttpServer, Reply

    out = REPO / "bench" / "out" / f"soak-{datetime.now():%Y%m%d-%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    receiver = HttpServer().start()
    receiver.handler = lambda r: Reply(200, '{"ok": true}', {"Content-Type": "application/json"})
    leads, field, integration = make_world(receiver.url("/hook"))

    env = dict(os.environ, INTEGRATION_ALLOW_PRIVATE_NETWORKS="True", PYTHONUNBUFFERED="1")
    if opts.redis:
        env["REDIS_URL"] = opts.redis
    log_path = out / "run_all.log"
    with log_path.open("wb") as log:
        run_all = subprocess.Popen(
            [sys.executable, "manage.py", "run_all", "--addr", opts.addr],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    started_at = time.monotonic()
    kills = []
    try:
        time.sleep(10)  # let the processes start
        end = time.monotonic() + opts.minutes * 60
        next_kill = time.monotonic() + opts.every
        second = 0
        while time.monotonic() < end:
            tick = time.monotonic()
            batch = random.sample(leads, opts.rate)
            write_entries(field, batch)
            if second % 5 == 0:
                write_entries(integration, [random.choice(leads)])
            second += 1
            if tick >= next_kill:
                next_kill += opts.every
                role = random.choice(ROLES)
                pid = target(role, log_path)
                if pid:
                    with_note = f"{time.monotonic() - started_at:.0f} s: SIGKILL {role} ({pid})"
                    print(with_note, flush=True)
                    try:
                        os.kill(pid, signal.SIGKILL)
                        kills.append(role)
                    except ProcessLookupError:
                        pass
            time.sleep(max(0.0, 1 - (time.monotonic() - tick)))
        unfinished = Q(state__in=(EntryState.PENDING, EntryState.RUNNING))
        deadline = time.monotonic() + 180
        while LogEntry.objects.filter(unfinished).exists() and time.monotonic() < deadline:
            time.sleep(1)
    finally:
        run_all.send_signal(signal.SIGTERM)
        try:
            run_all.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(run_all.pid, signal.SIGKILL)
        receiver.close()
    text = report(opts, receiver, started_at, kills)
    print(text)
    (out / "report.txt").write_text(text + "\n")
    print(f"(logs in {out})")


if __name__ == "__main__":
    main()
