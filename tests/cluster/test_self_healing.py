"""Any process may die at any moment, and the work still finishes (issue #19).

The product runs as `make run` runs it (`manage.py run_all`: web, the
hardened django-q2 cluster `workers`, the dispatcher). Then, one at a time,
each role is SIGKILLed — an idle worker, a busy worker, the pusher, the
monitor, the sentinel, the cluster's main process, the dispatcher, the web
server — and a busy worker is SIGSTOPped for longer than the lease. Before
each, a wave of due entries is written (FIELD entries adding 1 to each
lead's counter, and one INTEGRATION entry to a local receiver that answers
slowly, so a worker is busy). With the real leases (nothing is expired by
hand) each wave must end within 90 s of its kill; at the end nothing is lost,
no internal effect doubled, and an external request is repeated only with
its entry's Idempotency-Key.

One start-up per broker runs all the kills, about 15 s apart: each wave is
judged against its own kill.
"""

import os
import re
import signal
import threading
import time
from collections import Counter

import pytest
import requests
from django.utils import timezone

from automation.constants import EntryState, HeartbeatRole
from automation.models import Endpoint, Heartbeat, LogEntry
from tests import httpserver

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]

http_server = httpserver.http_server  # the fixture

BOUND = 90  # seconds from a kill to the end of its wave (the bound)
LEADS = 100  # FIELD entries per wave
REPLY_DELAY = 5  # the receiver's answer keeps a worker busy this long
STOP_SECONDS = 70  # SIGSTOP longer than the lease (DISPATCH_LEASE/EXECUTION_LEASE: 60 s)
ROLES = [
    "idle worker",
    "busy worker",
    "pusher",
    "monitor",
    "sentinel",
    "cluster main",
    "dispatcher",
    "web",
    "stopped worker",
]


def heartbeat(role):
    """The newest heartbeat of `role` (a Heartbeat row), or None."""
    return Heartbeat.objects.filter(role=role).order_by("-seen_at").first()


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


class Product:
    """The running `run_all` and the pids of its processes."""

    def __init__(self, proc, addr):
        self.proc, self.addr = proc, addr

    def cluster_info(self, fresh=3):
        """The cluster's pids, once its heartbeat is recent and every pid alive."""
        row = heartbeat(HeartbeatRole.CLUSTER)
        if row is None or (timezone.now() - row.seen_at).total_seconds() > fresh:
            return None
        info = row.info
        pids = [info["main"], info["sentinel"], info["pusher"], info["monitor"], *info["workers"]]
        return info if len(info["workers"]) == 2 and all(map(alive, pids)) else None

    def web_pid(self):
        return [int(p) for p in re.findall(r"started web \(pid (\d+)\)", self.proc.output(None))][
            -1
        ]

    def answers(self):
        try:
            return requests.get(f"http://{self.addr}/healthz", timeout=2).status_code in (200, 503)
        except requests.RequestException:
            return False


def target(product, role, wait_until):
    """(pid, signal) to send for `role`, waiting for the processes to be up."""
    info = wait_until(product.cluster_info, 60, "the cluster to be up (fresh heartbeat)")
    if role in ("busy worker", "stopped worker"):
        busy = wait_until(
            lambda: (product.cluster_info(fresh=2.5) or {}).get("busy"), 30, "a busy worker"
        )
        return busy[0], signal.SIGSTOP if role == "stopped worker" else signal.SIGKILL
    if role == "idle worker":
        idle = [p for p in info["workers"] if p not in info["busy"]] or info["workers"]
        return idle[0], signal.SIGKILL
    if role == "dispatcher":
        row = wait_until(lambda: heartbeat(HeartbeatRole.DISPATCHER), 30, "a dispatcher")
        return row.info["pid"], signal.SIGKILL
    if role == "web":
        wait_until(product.answers, 60, "the web server to answer")
        return product.web_pid(), signal.SIGKILL
    key = {"pusher": "pusher", "monitor": "monitor", "sentinel": "sentinel", "cluster main": "main"}
    return info[key[role]], signal.SIGKILL


@pytest.fixture
def receiver(http_server):
    body = '{"ok": true}'
    headers = {"Content-Type": "application/json"}
    http_server.handler = lambda received: httpserver.Reply(200, body, headers, REPLY_DELAY)
    return http_server


@pytest.mark.parametrize(
    ("broker", "addr"),
    [("orm", "127.0.0.1:8022"), ("redis", "127.0.0.1:8023")],
    indirect=["broker"],
)
def test_it_finishes_every_wave_within_90_s_of_any_single_process_death(
    broker,
    addr,
    receiver,
    subprocesses,
    make_leads,
    make_action,
    field_action,
    make_entries,
    wait_until,
    hits,
):
    leads = make_leads(LEADS)
    field = field_action()
    hook = Endpoint.objects.create(name="Slow hook", url=receiver.url("/hook"), timeout_seconds=20)
    integration = make_action("INTEGRATION", {"endpoint": hook.pk})
    run_all = subprocesses("run_all", "--addr", addr, ready_line="Serving")
    product = Product(run_all, addr)

    waves = []  # (role, time of the kill, entry ids)
    for role in ROLES:
        ids = [e.pk for e in make_entries(field, leads)]
        ids += [e.pk for e in make_entries(integration, leads[:1])]
        pid, sig = target(product, role, wait_until)
        os.kill(pid, sig)
        killed_at = time.monotonic()
        if sig == signal.SIGSTOP:
            threading.Timer(STOP_SECONDS, os.kill, (pid, signal.SIGCONT)).start()
        print(f"\n[self-healing] {broker.kind}: {role} (pid {pid}) got {sig.name}")
        waves.append({"role": role, "killed_at": killed_at, "ids": ids})
        for _ in range(10):  # the next kill about 10 s later
            check_deadlines(waves)
            time.sleep(1)

    def all_done():
        return check_deadlines(waves)

    wait_until(all_done, BOUND + 10, "every wave to finish", interval=1)
    wait_until(product.answers, 60, "the web server to answer again")
    print(
        f"[self-healing] {broker.kind}: seconds from each kill to the end of its wave: "
        + ", ".join(f"{w['role']} {w['ended'] - w['killed_at']:.0f}" for w in waves)
    )

    # 0 lost: every entry succeeded; 0 doubled: each lead's counter once per wave.
    states = Counter(LogEntry.objects.values_list("state", flat=True))
    assert states == {EntryState.SUCCEEDED: len(ROLES) * (LEADS + 1)}, states
    assert Counter(hits().values()) == {len(ROLES): LEADS}
    # External requests: each entry's own key, repeated (if at all) with that key only.
    keys = {
        str(key)
        for key in LogEntry.objects.filter(action_type="INTEGRATION").values_list(
            "idempotency_key", flat=True
        )
    }
    sent = Counter(r.headers.get("Idempotency-Key") for r in receiver.requests)
    assert set(sent) == keys
    repeats = {key: n for key, n in sent.items() if n > 1}
    print(f"[self-healing] {broker.kind}: {len(repeats)} external requests repeated: {repeats}")


def check_deadlines(waves):
    """True when every wave has ended; fails as soon as one is late past BOUND."""
    done = True
    for wave in waves:
        if "ended" in wave:
            continue
        left = LogEntry.objects.filter(pk__in=wave["ids"]).exclude(state__in=EntryState.TERMINAL)
        if not left.exists():
            wave["ended"] = time.monotonic()
            continue
        done = False
        late = time.monotonic() - wave["killed_at"]
        assert late <= BOUND, (
            f"{left.count()} entries of the wave of the {wave['role']} kill still unfinished "
            f"{late:.0f} s after it: {list(left.values_list('state', 'reason')[:3])}"
        )
    return done
