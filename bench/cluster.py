"""A real django-q2 cluster and dispatcher, as `make run` starts them (subprocesses).

Like tests/cluster/conftest.py: each subprocess leads its own process group;
`stop()` sends SIGTERM to the main process only (SIGTERM to a qcluster's
whole group hangs it, shared/DJANGO-Q2.md), then SIGKILLs the group if it
has not exited. Worker pids come from the cluster's own log line
"… ready for work at <pid>" (there is no setproctitle to tell them apart).
"""

import contextlib
import os
import re
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.world import REPO

WORKERS = 2
STOP_TIMEOUT = 20
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
READY = re.compile(rb"ready for work at (\d+)")


def redis_url():
    return os.getenv("BENCH_REDIS_URL", DEFAULT_REDIS_URL)


def redis_available():
    import redis

    try:
        client = redis.Redis.from_url(redis_url(), socket_connect_timeout=2)
        client.ping()
        client.close()
        return True
    except redis.RedisError:
        return False


def flush_redis():
    import redis

    client = redis.Redis.from_url(redis_url())
    client.flushdb()
    client.close()


def env_for(broker):
    """The environment of cluster subprocesses: this database, Q_WORKERS=2, the broker."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "Q_SYNC")}
    env.update(Q_WORKERS=str(WORKERS), PYTHONUNBUFFERED="1", LOG_LEVEL="INFO")
    if broker == "redis":
        env["REDIS_URL"] = redis_url()
    return env


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log_path: Path

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def log(self):
        try:
            return self.log_path.read_bytes()
        except OSError:
            return b""

    def stop(self, timeout=STOP_TIMEOUT):
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                print(f"  {self.name} did not exit {timeout} s after SIGTERM: SIGKILL", flush=True)
        with contextlib.suppress(ProcessLookupError):  # every member has exited
            os.killpg(self.pid, signal.SIGKILL)
        self.popen.wait(timeout)


def start(name, args, broker, log_dir, extra_env=None):
    """`manage.py <args>` (or `python -m …` if args[0] is "-m") as a subprocess."""
    log_path = Path(log_dir) / f"{name}.log"
    env = env_for(broker)
    env.update(extra_env or {})
    command = [sys.executable, *args] if args[0] == "-m" else [sys.executable, "manage.py", *args]
    with log_path.open("wb") as out:
        popen = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Proc(name, popen, log_path)


def current_workers(proc):
    """The pids of the cluster's live workers (the last WORKERS that logged "ready")."""
    pids = [int(p) for p in READY.findall(proc.log())]
    return [p for p in pids if Path(f"/proc/{p}").exists()][-WORKERS:]


def worker_pids(proc, timeout=60):
    """Wait until the cluster's WORKERS workers are up; their pids."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = current_workers(proc)
        if len(alive) >= WORKERS:
            return alive
        if not proc.alive():
            break
        time.sleep(0.1)
    tail = proc.log()[-3000:].decode(errors="replace")
    raise RuntimeError(f"{proc.name}: workers did not start in {timeout} s:\n{tail}")


def rss_kb(pid):
    """VmRSS of a process in KiB (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def workers_rss_kb(pids):
    return sum(rss_kb(p) for p in pids)


def children_cpu():
    """CPU seconds of this process's finished (waited-for) children and their descendants."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def proc_cpu_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15)


class BackendCpu:
    """CPU time of the PostgreSQL backends serving this database (except our own).

    Sampled from /proc/<pid>/stat: call `sample()` regularly; a backend that
    appears after `start()` counts from zero, one that existed from its first sample.
    """

    def __init__(self):
        self.seen = {}

    def pids(self):
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
            return [row[0] for row in cursor.fetchall()]

    def start(self):
        for pid in self.pids():
            ticks = proc_cpu_ticks(pid)
            if ticks is not None:
                self.seen[pid] = [ticks, ticks]

    def sample(self):
        for pid in self.pids():
            ticks = proc_cpu_ticks(pid)
            if ticks is None:
                continue
            self.seen.setdefault(pid, [0, 0])[1] = ticks

    def seconds(self):
        return sum(last - first for first, last in self.seen.values()) / os.sysconf("SC_CLK_TCK")
