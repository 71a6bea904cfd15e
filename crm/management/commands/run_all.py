"""`make run`: the web server, the task cluster and the dispatcher, supervised.

Each role runs as a child process, leader of its own process group. A child
that exits, for whatever reason, is logged and started again after a
backoff (1 s, doubling up to 30 s; back to 1 s once it has run for a
minute). Ctrl-C or SIGTERM stops them all: SIGTERM to each child's main
process (a django-q2 cluster must not get a group-wide signal: see
shared/DJANGO-Q2.md), then, after STOP_GRACE, SIGKILL to each child's whole
process group, whatever state it is in: no orphans.

The web server is gunicorn with deploy/gunicorn.conf.py when that file
exists, else runserver; the workers are `manage.py workers` (django-q2,
hardened: automation/cluster.py). In production the same roles run under
systemd or compose, each with a restart policy (see the README); this
command is for one machine.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from django.core.management.base import BaseCommand

STOP_GRACE = 15  # > the cluster's own stop grace (automation.execution.cluster.STOP_GRACE)
MAX_BACKOFF = 30
HEALTHY_AFTER = 60  # seconds of running that reset a child's backoff


GUNICORN_CONF = Path(__file__).resolve().parents[3] / "deploy" / "gunicorn.conf.py"


def commands(addr):
    """The roles and their command lines."""
    manage = [sys.executable, "manage.py"]
    web = [sys.executable, "-m", "gunicorn", "crm.wsgi", "-c", str(GUNICORN_CONF), "-b", addr]
    return {
        "web": web if GUNICORN_CONF.exists() else [*manage, "runserver", addr, "--noreload"],
        "workers": [*manage, "workers"],  # django-q2, hardened (automation/cluster.py)
        "dispatcher": [*manage, "dispatcher"],
    }


@dataclass
class Child:
    """One supervised role: its command, its current process, its backoff."""

    name: str
    argv: list
    popen: subprocess.Popen = None
    started_at: float = 0.0
    failures: int = 0
    restart_at: float = 0.0

    def start(self, log):
        self.popen = subprocess.Popen(self.argv, env=os.environ.copy(), start_new_session=True)
        self.started_at = time.monotonic()
        log(f"started {self.name} (pid {self.popen.pid})")

    def exited(self, log):
        """If the process has exited: clean up its group and schedule the restart."""
        if self.popen is None or self.popen.poll() is None:
            return False
        code = self.popen.returncode
        self.kill_group()  # what it left behind (its group outlives a dead leader)
        ran = time.monotonic() - self.started_at
        self.failures = 1 if ran >= HEALTHY_AFTER else self.failures + 1
        delay = min(2 ** (self.failures - 1), MAX_BACKOFF)
        log(f"{self.name} (pid {self.popen.pid}) exited with {code}: restarting in {delay} s")
        self.popen = None
        self.restart_at = time.monotonic() + delay
        return True

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def terminate(self):
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)  # the main process only

    def kill_group(self):
        if self.popen is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGKILL)


class Command(BaseCommand):
    help = "Run web + task cluster + dispatcher, restarting any that dies; Ctrl-C stops all."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000")

    def log(self, message):
        self.stderr.write(f"[run_all {time.strftime('%H:%M:%S')}] {message}")

    def handle(self, addr, **options):
        children = [Child(name, argv) for name, argv in commands(addr).items()]
        stopping = []
        signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        for child in children:
            child.start(self.log)
        self.stdout.write(f"Serving http://{addr}/admin/ — Ctrl-C stops everything.")
        try:
            while not stopping:
                for child in children:
                    child.exited(self.log)
                    if child.popen is None and time.monotonic() >= child.restart_at:
                        child.start(self.log)
                time.sleep(0.2)
        finally:
            self.stop(children)

    def stop(self, children):
        self.log("stopping")
        for child in children:
            child.terminate()
        deadline = time.monotonic() + STOP_GRACE
        for child in children:
            if child.popen is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.popen.wait(max(0.1, deadline - time.monotonic()))
        for child in children:
            if child.alive():
                self.log(f"{child.name} did not stop within {STOP_GRACE} s: SIGKILL")
            child.kill_group()
            if child.popen is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.popen.wait(5)
        self.log("stopped")
