"""`manage.py run_all` supervises: a dead child is restarted; SIGTERM leaves no orphan."""

import os
import re
import signal
import time

import pytest
import requests

from automation.execution.cluster import descendants

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]

ADDR = "127.0.0.1:8021"


def pids(proc, name):
    """The pids run_all started for `name`, oldest first (from its log)."""
    return [int(p) for p in re.findall(rf"started {name} \(pid (\d+)\)", proc.output(None))]


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead too
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_it_restarts_a_killed_child_and_leaves_no_orphan_on_sigterm(subprocesses, wait_until):
    run_all = subprocesses("run_all", "--addr", ADDR, ready_line="Serving")
    wait_until(run_all.ready, 60, "run_all to start its children")
    wait_until(lambda: b"running." in run_all.output(None).encode(), 90, "the cluster to run")
    wait_until(lambda: _answers(), 60, "the web server to answer")

    for name in ("dispatcher", "workers", "web"):
        (first,) = pids(run_all, name)
        os.kill(first, signal.SIGKILL)
        wait_until(lambda name=name: len(pids(run_all, name)) == 2, 30, f"{name} to restart")
        assert alive(pids(run_all, name)[1])
        assert f"{name} (pid {first}) exited with -9" in run_all.output(None)
    wait_until(lambda: _answers(), 60, "the restarted web server to answer")

    family = descendants(run_all.pid)
    assert len(family) >= 3 + 1 + 2 + 2  # 3 children, the sentinel, 2 workers, pusher, monitor
    started = time.monotonic()
    run_all.popen.send_signal(signal.SIGTERM)
    run_all.popen.wait(60)
    print(f"\n[supervisor] stopped {len(family)} processes in {time.monotonic() - started:.1f} s")
    wait_until(lambda: not [p for p in family if alive(p)], 10, "every child to be gone")


def _answers():
    try:
        return requests.get(f"http://{ADDR}/healthz", timeout=2).status_code in (200, 503)
    except requests.RequestException:
        return False
