"""django-q2's cluster, made to survive the death of any one of its processes.

`manage.py workers` runs this instead of `manage.py qcluster`. Subclasses
only (django-q2 is not forked); the wedge they remove is django-q2 issue #23
(with #339 and #346):

  The workers share one `multiprocessing.Queue`. Its `get()` takes the
  queue's read lock and *then* waits for data, so the next-in-line idle
  worker always holds that lock. SIGKILL it (OOM killer, segfault, an
  operator) and the lock is never released: the sentinel starts a
  replacement, and every worker, old and new, blocks on the lock forever.
  The same holds for the result queue's write lock (#339: a worker killed
  while sending a result, the monitor starves) and for the monitor, which
  waits for results holding the result queue's read lock.

What this module does about it:

1. `SafeQueue.get()` waits for data *without* the read lock and takes the
   lock only to read one message. An idle worker holds no lock, so killing
   it wedges nothing. The queue counts what was taken (`taken`).
2. `SafeSentinel`, when a process of its cluster dies, frees the locks it
   may have died holding (a lock still held after a second, when live
   holders hold it for microseconds, belongs to the dead process; a
   `multiprocessing.Lock` may be released by any process). Its guard loop
   never waits on a dead worker's lock. It watches for a wedge itself: the
   task queue holds tasks that no idle worker takes, or results that the
   monitor does not save, for WEDGE_SECONDS. If its main process dies it
   kills its own processes and exits: no orphans. Every few seconds it
   writes its Heartbeat row (state, wedge, the pids of its processes).
3. The main process (`run`) is the net: when the sentinel dies, stalls
   (no guard cycle for STALL_SECONDS) or reports a wedge, it stops the
   cluster (gracefully for STOP_GRACE seconds, then SIGKILL to every
   process under it) and starts a new one. SIGTERM/SIGINT stop it the same
   bounded way, never by joining inside a signal handler (#346).

A wedge the first two steps miss (a process killed in the microseconds it
reads or writes a message leaves a half message in the pipe) is still found
by step 2's check or by the dispatcher (`automation.execution.dispatcher.Watchdog`),
and step 3 restarts the cluster. Work is never lost or doubled by a restart:
the dispatcher's leases hand the entries out again, and the runner's claim
makes a second delivery a no-op (see automation.execution.runner).
"""

import contextlib
import ctypes
import multiprocessing
import os
import signal
import socket
import threading
import time
import uuid
from multiprocessing.reduction import ForkingPickler
from types import SimpleNamespace

from django import db
from django_q.cluster import Cluster, Sentinel, get_mp_context
from django_q.conf import Conf, logger
from django_q.humanhash import humanize
from django_q.queues import Queue
from django_q.status import Stat

WEDGE_SECONDS = 30  # queued work nobody takes for this long is a wedge
STALL_SECONDS = 30  # a sentinel with no guard cycle for this long is stuck
STOP_GRACE = 10  # seconds a cluster gets to stop before SIGKILL
HEARTBEAT_SECONDS = 2
LOCK_GRACE = 1.0  # a lock held this long after its holder died is freed


class Counter:
    """A shared counter under a plain lock, which any process may free."""

    def __init__(self):
        ctx = multiprocessing.get_context()
        self.lock = ctx.Lock()
        self.count = ctx.RawValue("q", 0)

    def increment(self, n=1):
        with self.lock:
            self.count.value += n

    @property
    def value(self):
        return self.count.value


class SafeQueue(Queue):
    """A django-q2 Queue whose blocking `get()` waits for data outside the read lock."""

    POLL = 1.0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.size = Counter()  # replaces django-q2's, whose RLock no other process may free
        self.taken = Counter()  # messages got: the sentinel's measure of progress

    def __getstate__(self):
        return super().__getstate__() + (self.taken,)

    def __setstate__(self, state):
        super().__setstate__(state[:-1])
        self.taken = state[-1]

    def get(self, block=True, timeout=None):
        if not block or timeout is not None:
            item = super().get(block, timeout)
        else:
            while True:
                # Wait with no lock held: a process killed here leaves nothing locked.
                if not self._reader.poll(self.POLL):
                    continue
                if not self._rlock.acquire(timeout=self.POLL):
                    continue
                try:
                    if not self._reader.poll(0):
                        continue  # another process took it first
                    data = self._recv_bytes()
                    self._sem.release()
                finally:
                    self._rlock.release()
                break
            self.size.increment(-1)
            item = ForkingPickler.loads(data)
        self.taken.increment(1)
        return item

    def has_data(self):
        """Is a message waiting in the pipe (not the counter: a dead process may skew it)?"""
        return self._reader.poll(0)

    def locks(self):
        return {
            "read": self._rlock,
            "write": self._wlock,
            "size": self.size.lock,
            "taken": self.taken.lock,
        }


def free(lock, what):
    """Release `lock` if it stays held for LOCK_GRACE: its holder died holding it."""
    if lock is None:
        return False
    if lock.acquire(timeout=LOCK_GRACE):
        lock.release()
        return False
    lock.release()
    logger.critical("freed %s, held by a process that died", what)
    return True


class SafeSentinel(Sentinel):
    """django-q2's Sentinel with SafeQueues, freed locks, a wedge check and a heartbeat."""

    def __init__(self, stop_event, start_event, cluster_id, broker=None, timeout=None, **kw):
        self.health = kw.pop("health")
        self.heartbeat_name = kw.pop("heartbeat_name")
        super().__init__(stop_event, start_event, cluster_id, broker, timeout, start=False)
        # SIGTERM to the whole group (systemd, `timeout`) must not kill the sentinel
        # mid-wait, holding the stop event's lock: the main process stops it.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        self.task_queue = SafeQueue(maxsize=Conf.QUEUE_LIMIT) if Conf.QUEUE_LIMIT else SafeQueue()
        self.result_queue = SafeQueue()
        now = time.monotonic()
        self.progress = {"task": (0, now), "result": (0, now)}
        self.wedged = ""
        self.last_beat = 0
        self.start()

    def spawn_process(self, target, *args):
        # Its processes get the default SIGTERM (django-q2 terminates a worker
        # past its timeout with it), not the sentinel's SIG_IGN.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        try:
            return super().spawn_process(target, *args)
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)

    # Locks -----------------------------------------------------------------

    def free_locks(self, process):
        """Free what `process` (dead) may have held: per its role, the locks it takes."""
        tasks, results = self.task_queue.locks(), self.result_queue.locks()
        if process is self.monitor:
            held = {f"the result queue's {k} lock": results[k] for k in ("read", "size", "taken")}
        elif process is self.pusher:
            held = {f"the task queue's {k} lock": tasks[k] for k in ("write", "size")}
        else:
            held = {f"the task queue's {k} lock": tasks[k] for k in ("read", "size", "taken")}
            held.update({f"the result queue's {k} lock": results[k] for k in ("write", "size")})
        for what, lock in held.items():
            free(lock, what)

    def reincarnate(self, process):
        if process in self.pool:
            # Read the dead worker's timer without its lock (it may have died holding it).
            process.timer = SimpleNamespace(value=process.timer.get_obj().value)
        if process.is_alive():  # a worker past its timeout: django-q2 terminates it
            super().reincarnate(process)
            process.join(5)
            self.free_locks(process)
        else:
            self.free_locks(process)
            super().reincarnate(process)
        self.beat(force=True)

    # Guard -----------------------------------------------------------------

    def guard(self):
        """django-q2's guard loop, plus: orphan check, wedge check, heartbeat."""
        name = humanize(self.cluster_id.hex)
        logger.info("%s guarding cluster %s [%s]", self.name, name, self.queue_name())
        self.start_event.set()
        Stat(self).save()
        logger.info("Q Cluster %s [%s] running.", name, self.queue_name())
        counter = 0
        cycle = Conf.GUARD_CYCLE
        while True:
            self.health["guarded_at"].value = time.monotonic()
            if os.getppid() != self.parent_pid:
                self.orphaned()
            for p in list(self.pool):
                if not p.is_alive():
                    self.reincarnate(p)
                    continue
                with p.timer.get_lock():
                    timed_out = p.timer.value == 0
                    if p.timer.value > 0:
                        p.timer.value -= cycle
                if timed_out:
                    self.reincarnate(p)
            if not self.monitor.is_alive():
                self.reincarnate(self.monitor)
            if not self.pusher.is_alive():
                self.reincarnate(self.pusher)
            self.check_wedge()
            self.beat()
            counter += cycle
            if counter >= 30 and Conf.SCHEDULER:
                counter = 0
                from django_q.scheduler import scheduler

                scheduler(broker=self.broker)
            Stat(self).save()
            if self.stop_event.wait(cycle):
                break
        self.stop()

    def orphaned(self):
        """The main process died: kill this cluster's processes and exit (no orphans)."""
        logger.critical("main process %s died: stopping cluster processes", self.parent_pid)
        for p in [*self.pool, self.pusher, self.monitor]:
            with contextlib.suppress(ProcessLookupError, TypeError):
                os.kill(p.pid, signal.SIGKILL)
        os._exit(1)

    def idle_workers(self):
        return [p for p in self.pool if p.timer.get_obj().value == -1 and p.is_alive()]

    def check_wedge(self):
        """Tasks no idle worker takes, or results the monitor does not save, for WEDGE_SECONDS."""
        now = time.monotonic()
        parts = []
        checks = (
            ("task", self.task_queue, "workers", lambda: bool(self.idle_workers())),
            ("result", self.result_queue, "monitor", lambda: self.monitor.is_alive()),
        )
        for key, queue, part, could_take in checks:
            taken = queue.taken.value
            last_taken, since = self.progress[key]
            if taken != last_taken or not queue.has_data() or not could_take():
                self.progress[key] = (taken, now)
            elif now - since > WEDGE_SECONDS:
                parts.append(f"{part}: queued {key}s not taken for {now - since:.0f} s")
        wedged = "; ".join(parts)
        if wedged and not self.wedged:
            logger.critical("cluster wedged: %s", wedged)
            self.health["wedged"].value = 1
        new = bool(wedged and not self.wedged)
        self.wedged = wedged
        if new:
            self.beat(force=True, new_wedge=True)

    def beat(self, force=False, new_wedge=False):
        """Write this cluster's Heartbeat row (every HEARTBEAT_SECONDS, or now)."""
        now = time.monotonic()
        if not force and now - self.last_beat < HEARTBEAT_SECONDS:
            return
        self.last_beat = now
        from automation.constants import HeartbeatRole
        from automation.models import Heartbeat

        info = {
            "host": socket.gethostname(),
            "main": self.parent_pid,
            "sentinel": self.pid,
            "workers": [p.pid for p in self.pool],
            "busy": [p.pid for p in self.pool if p.timer.get_obj().value > 0],
            "pusher": self.pusher.pid if self.pusher else None,
            "monitor": self.monitor.pid if self.monitor else None,
            "reincarnations": self.reincarnations,
        }
        try:
            Heartbeat.beat(
                self.heartbeat_name,
                HeartbeatRole.CLUSTER,
                wedged=self.wedged,
                new_wedge=new_wedge,
                info=info,
            )
        except Exception:  # the database is down: the guard goes on regardless
            logger.exception("could not write the cluster's heartbeat")
            db.connections.close_all()


class SafeCluster(Cluster):
    """A Cluster whose sentinel is a SafeSentinel, stopped within a bounded time."""

    def __init__(self):
        super().__init__()
        self.heartbeat_name = f"cluster {socket.gethostname()}:{os.getpid()}"
        self.stopping = False

    def sig_handler(self, signum, frame):
        # Only note it (#346: stopping inside the handler can deadlock); `run` stops.
        self.stopping = True

    def start(self):
        ctx = get_mp_context()
        self.stop_event, self.start_event = ctx.Event(), ctx.Event()
        # Lock-free: a sentinel killed (or stopped) while writing must not block this process.
        self.health = {
            "guarded_at": ctx.Value("d", time.monotonic(), lock=False),
            "wedged": ctx.Value("i", 0, lock=False),
        }
        self.sentinel = ctx.Process(
            target=SafeSentinel,
            name=f"Process-{uuid.uuid4().hex}",
            args=(self.stop_event, self.start_event, self.cluster_id, self.broker, self.timeout),
            kwargs={"health": self.health, "heartbeat_name": self.heartbeat_name},
        )
        db.connections.close_all()
        self.sentinel.start()
        logger.info("Q Cluster %s starting.", self.name)
        deadline = time.monotonic() + 60
        while not self.start_event.is_set() and not self.stopping:
            if not self.sentinel.is_alive() or time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def trouble(self):
        """Why this cluster must be restarted, or '' while it is fine."""
        if not self.sentinel.is_alive():
            return f"the sentinel {self.sentinel.pid} died (exit code {self.sentinel.exitcode})"
        if self.health["wedged"].value:
            return "the sentinel found the cluster wedged (see its heartbeat)"
        stalled = time.monotonic() - self.health["guarded_at"].value
        if stalled > STALL_SECONDS:
            return f"the sentinel {self.sentinel.pid} has not guarded for {stalled:.0f} s"
        return ""

    def halt(self, grace=STOP_GRACE):
        """Stop gracefully for `grace` seconds, then SIGKILL every process under this one."""
        if self.sentinel.is_alive():
            # Not set() here: a sentinel killed inside stop_event.wait() holds the
            # event's lock for good, and set() would block this process too.
            threading.Thread(target=self.stop_event.set, daemon=True).start()
            self.sentinel.join(grace)
        killed = kill_descendants()
        self.sentinel.join(5)  # before reaping the rest: its Process object reaps it
        reap()
        if killed:
            logger.warning("killed %d processes of the cluster that did not stop", len(killed))


def run(grace=STOP_GRACE):
    """`manage.py workers`: run a SafeCluster and restart it when it dies, stalls or wedges."""
    become_subreaper()
    cluster = SafeCluster()
    failures = 0
    while not cluster.stopping:
        started = time.monotonic()
        reason = "the cluster did not start" if not cluster.start() else ""
        while not reason and not cluster.stopping:
            time.sleep(0.5)
            reason = cluster.trouble()
        cluster.halt(grace)
        if cluster.stopping:
            break
        failures = failures + 1 if time.monotonic() - started < 60 else 1
        delay = min(2 ** (failures - 1), 30)
        logger.critical("restarting the cluster in %d s: %s", delay, reason)
        time.sleep(delay)
    logger.info("Q Cluster %s has stopped.", cluster.name)


# Processes ---------------------------------------------------------------------


def become_subreaper():
    """Orphans of a dead sentinel become this process's children (Linux), so they
    can be found and killed; elsewhere this does nothing."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def descendants(pid):
    """Pids of every process under `pid` (from /proc; empty where there is none)."""
    children = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_descendants():
    """SIGKILL every process under this one; returns their pids."""
    pids = descendants(os.getpid())
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return pids


def reap(timeout=5):
    """Wait for the exited children of this process (orphans adopted as subreaper)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if not descendants(os.getpid()):
                return
            time.sleep(0.05)
