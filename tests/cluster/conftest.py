"""A real django-q2 cluster for tests: `workers` (django-q2) and `dispatcher` subprocesses.

In-process tests run django-q2 in sync mode (tests/conftest.py patches
`Conf.SYNC`); these tests do not: they start `manage.py workers` and
`manage.py dispatcher` as subprocesses pointed at the *test* database, so
the data a test makes must be committed (`transactional_db`), and this
process enqueues to the real broker (the `q_sync` override below).

    def test_it_drains(cluster, dispatcher, make_leads, field_action, make_entries,
                       wait_until, log):
        make_entries(field_action(), make_leads(10))
        cluster()
        dispatcher()
        wait_until(log.drained, 120, "every entry to finish")

Subprocesses are started in their own session (process group). `stop()`
sends SIGTERM to the main process only (SIGTERM to a qcluster's whole group
hangs it: shared/DJANGO-Q2.md), waits up to 20 s, then SIGKILLs the group;
`kill()` SIGKILLs the group at once (a crash). Every subprocess is stopped
when the test ends, and its output (a file under the test's tmp dir) is
attached to the report of a failed test.

`broker` is the ORM broker unless a test parametrizes it indirectly:
`@pytest.mark.parametrize("broker", ["orm", "redis"], indirect=True)`. The
Redis broker uses TEST_REDIS_URL (default redis://127.0.0.1:6379/15),
flushed before and after the test.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection
from django.db.models import Count, Max, Min
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ

from automation.constants import EntryState
from automation.engine import rules
from automation.models import Action, ActionSet, LogEntry, Workflow
from leads.models import Lead

REPO = Path(__file__).resolve().parents[2]
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
STOP_TIMEOUT = 20  # seconds a subprocess gets to exit after SIGTERM
UNFINISHED = (EntryState.PENDING, EntryState.RUNNING)

PROCESSES = pytest.StashKey[list]()


@pytest.fixture(autouse=True)
def q_sync():
    """Overrides the root fixture: here django-q2 is NOT in sync mode.

    `Conf.SYNC` is False as imported (no Q_SYNC in the environment), so an
    `async_task` of this process goes to the real broker: the ORM broker on
    the test database, which the subprocesses read too.
    """
    yield


@pytest.fixture(autouse=True)
def _fresh_rules():
    # The compiled rule index is cached per process and keyed by a version
    # number that restarts with every flushed test database: drop it.
    rules.invalidate()
    yield
    rules.invalidate()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        for proc in item.stash.get(PROCESSES, []):
            report.sections.append((f"{proc.name} output ({proc.log_path})", proc.output()))
    return report


# Subprocesses ------------------------------------------------------------------


@dataclass
class Broker:
    kind: str  # "orm" or "redis"
    env: dict = field(default_factory=dict)
    redis: object = None  # a client of the Redis broker's database

    def queued(self):
        """Tasks waiting in the broker for a cluster to take them."""
        if self.redis is not None:
            return self.redis.llen(f"django_q:{Conf.CLUSTER_NAME}:q")
        return OrmQ.objects.filter(key=Conf.CLUSTER_NAME, lock__lte=timezone.now()).count()


@dataclass
class Process:
    """One subprocess (leader of its own process group) and its output file."""

    name: str
    popen: subprocess.Popen
    log_path: Path
    ready_line: str  # what it prints once it is ready for work
    ended_on_purpose: bool = False

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def output(self, limit=20_000):
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"(no output: {exc})"
        return text if limit is None or len(text) <= limit else "…" + text[-limit:]

    def ready(self):
        return self.ready_line in self.output(limit=None)

    def count(self, text):
        """How many lines of its output contain `text` (e.g. django-q2's "Enqueued")."""
        return sum(text in line for line in self.output(limit=None).splitlines())

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM to the main process, then SIGKILL to the group if it has not exited."""
        self.ended_on_purpose = True
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                print(f"{self.name} did not exit within {timeout} s of SIGTERM: SIGKILL")
        self._kill_group()

    def kill(self):
        """SIGKILL the whole process group at once: the machine lost power, say."""
        self.ended_on_purpose = True
        self._kill_group()

    def _kill_group(self):
        # The group id is the leader's pid (start_new_session); it cannot be
        # reused while any member of the group is still alive.
        with contextlib.suppress(ProcessLookupError):  # every member has exited
            os.killpg(self.pid, signal.SIGKILL)
        self.popen.wait(STOP_TIMEOUT)


def database_url():
    """The URL of the database this test uses (pytest-django's `test_<name>`).

    On SQLite the test database is a file (tests/conftest.py), in WAL mode
    with immediate transactions like the demo's, so the subprocesses share it.
    """
    s = connection.settings_dict
    if s["ENGINE"] == "django.db.backends.sqlite3":
        assert "memory" not in str(s["NAME"]), s["NAME"]
        return f"sqlite:///{s['NAME']}"
    assert connection.vendor == "postgresql", s["ENGINE"]
    credentials = quote(s["USER"] or "", safe="")
    if s["PASSWORD"]:
        credentials += ":" + quote(s["PASSWORD"], safe="")
    host = s["HOST"] or ""
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    port = f":{s['PORT']}" if s["PORT"] else ""
    return f"postgres://{credentials}@{host}{port}/{quote(s['NAME'], safe='')}"


@pytest.fixture
def broker(request):
    kind = getattr(request, "param", "orm")
    if kind == "orm":
        yield Broker("orm")
        return
    import redis

    url = os.getenv("TEST_REDIS_URL", DEFAULT_REDIS_URL)
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        # CI starts Redis (.ci/run): there an unreachable Redis is a failure, not a skip.
        (pytest.fail if os.getenv("CI") else pytest.skip)(
            f"the Redis broker tests need Redis at {url} (TEST_REDIS_URL): {exc}"
        )
    client.flushdb()
    try:
        yield Broker("redis", {"REDIS_URL": url}, client)
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def subprocess_env(broker, transactional_db):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "Q_SYNC")}
    env.update(
        DATABASE_URL=database_url(),
        DJANGO_SETTINGS_MODULE="crm.settings",
        INTEGRATION_ALLOW_PRIVATE_NETWORKS="True",
        HTTPS="False",  # as `make run`: the web process serves plain HTTP on 127.0.0.1
        Q_WORKERS="2",
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="INFO",
    )
    env.update(broker.env)
    return env


@pytest.fixture
def subprocesses(request, subprocess_env, tmp_path):
    """Start `manage.py <args>` subprocesses; all of them are stopped when the test ends.

    Depends on `transactional_db` (through subprocess_env), so they stop
    before the test database is flushed.
    """
    started = request.node.stash.setdefault(PROCESSES, [])
    counter = iter(range(1, 1000))

    def start(*args, ready_line, name=None):
        name = f"{name or args[0]}-{next(counter)}"
        log_path = tmp_path / f"{name}.log"
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                [sys.executable, "manage.py", *args],
                cwd=REPO,
                env=subprocess_env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = Process(name, popen, log_path, ready_line)
        started.append(proc)
        return proc

    yield start
    for proc in reversed(started):
        proc.stop()


@pytest.fixture
def cluster(subprocesses):
    """`cluster()` starts a `manage.py workers` (the product's hardened django-q2
    cluster, Q_WORKERS=2) and returns its Process."""
    return lambda: subprocesses("workers", ready_line="] running.")


@pytest.fixture
def dispatcher(subprocesses):
    """`dispatcher()` starts a `manage.py dispatcher --interval 0.2` and returns its Process."""
    return lambda: subprocesses("dispatcher", "--interval", "0.2", ready_line="dispatcher started")


@pytest.fixture
def wait_until(request):
    """`wait_until(predicate, timeout, what)`: poll until the predicate is true, or fail.

    Also fails at once when a subprocess died that the test did not end.
    """

    def wait(predicate, timeout, what, interval=0.2):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            for proc in request.node.stash.get(PROCESSES, []):
                if not proc.ended_on_purpose and not proc.alive():
                    raise AssertionError(
                        f"{proc.name} exited with {proc.popen.returncode} while waiting for {what}"
                    )
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {timeout} s for {what}, in vain")
            time.sleep(interval)

    return wait


# Data ---------------------------------------------------------------------------


@pytest.fixture
def make_leads(lead_list, statuses):
    """`make_leads(n)`: n leads in one insert (no signals: nothing fires)."""

    def make(n, **fields):
        assert n <= 10_000, "one valid phone number each (Los Angeles, 555-xxxx)"
        fields.setdefault("list", lead_list)
        fields.setdefault("status", statuses["NEW"])
        fields.setdefault("first_name", "Ada")
        return Lead.objects.bulk_create(
            Lead(phone_number=f"+1310555{i:04d}", **fields) for i in range(n)
        )

    return make


@pytest.fixture
def make_action(transactional_db):
    """`make_action(type, config)`: an active action of a new workflow with no conditions."""
    numbers = iter(range(1, 1000))

    def make(action_type, config):
        workflow = Workflow.objects.create(name=f"Cluster test {next(numbers)}", all_campaigns=True)
        action_set = ActionSet.objects.create(workflow=workflow)
        return Action.objects.create(action_set=action_set, type=action_type, config=config)

    return make


@pytest.fixture
def field_action(make_action, declare):
    """`field_action()`: a FIELD action adding 1 to the lead's custom field `hits`."""
    declare("hits", type="number")
    return lambda: make_action("FIELD", {"field": "custom.hits", "op": "add", "value": 1})


@pytest.fixture
def make_entries(transactional_db):
    """`make_entries(action, leads, due_in=0, spread=0)`: one pending entry of `action` per lead.

    Inserted directly (one bulk insert), like the engine writes them, but
    without a lease: only the dispatcher hands them to workers. They are due
    `due_in` seconds from now, or evenly over the `spread` seconds after that.
    """

    def make(action, leads, due_in=0, spread=0):
        workflow = action.action_set.workflow
        first_due = timezone.now() + timedelta(seconds=due_in)
        step = timedelta(seconds=spread) / max(len(leads), 1)
        return LogEntry.objects.bulk_create(
            LogEntry(
                workflow=workflow,
                action=action,
                lead_id=lead.pk,
                list_id=lead.list_id,
                action_type=action.type,
                state=EntryState.PENDING,
                due_at=first_due + i * step,
                context={"chain": [workflow.pk]},
            )
            for i, lead in enumerate(leads)
        )

    return make


class Log:
    """The state of the log entries, re-read from the database at each call."""

    def unfinished(self):
        return LogEntry.objects.filter(state__in=UNFINISHED).count()

    def drained(self):
        """No entry is pending or running any more."""
        return not LogEntry.objects.filter(state__in=UNFINISHED).exists()

    def finished(self, entry):
        """The entry re-read if it reached a final state, else None (for wait_until)."""
        return LogEntry.objects.filter(pk=entry.pk, state__in=EntryState.TERMINAL).first()

    def states(self):
        return dict(LogEntry.objects.values_list("state").annotate(n=Count("id")))

    def failures(self, limit=5):
        """The most common (state, reason) pairs of entries that did not succeed."""
        return list(
            LogEntry.objects.exclude(state=EntryState.SUCCEEDED)
            .values_list("state", "reason")
            .annotate(n=Count("id"))
            .order_by("-n")[:limit]
        )

    def report(self, label, wall_seconds):
        """Print how long a drain took: wall clock, and first start to last finish."""
        stats = LogEntry.objects.aggregate(
            n=Count("id"), first=Min("started_at"), last=Max("finished_at")
        )
        span = (stats["last"] - stats["first"]).total_seconds()
        print(
            f"\n[drain] {label}: {stats['n']} entries, {wall_seconds:.1f} s from starting "
            f"the processes to drained, {span:.1f} s from the first start to the last "
            f"finish ({stats['n'] / span:.0f} entries/s)"
        )


@pytest.fixture
def log(transactional_db):
    return Log()


@pytest.fixture
def hits(transactional_db):
    """`hits()`: every lead's custom `hits` counter by lead id (None: never set).

    The effects of FIELD actions, counted on the leads, not in the log.
    """
    return lambda: dict(Lead.objects.values_list("pk", "custom_fields__hits"))
