"""The `make run` stack, for real: gunicorn + qcluster + dispatcher on a fresh SQLite file.

A pytest plugin (named in tests/conftest.py), so that the one session-scoped
`demo_stack` is shared by the deploy and browser tests. It does what `make run`
does, in a temporary directory: `migrate`, `collectstatic`, `load_demo --addr`,
then starts the web process on gunicorn with deploy/gunicorn.conf.py (DEBUG
off, static files from WhiteNoise), a django-q2 cluster (ORM broker) and the
dispatcher, each in its own session with its output in a file, with the
environment the Makefile gives them (plain HTTP, the demo receiver on and its
URL in INTEGRATION_ALLOWED_URLS). Nothing here touches the test database.

    def test_it_serves(demo_stack):
        session = demo_stack.log_in()          # requests.Session, admin / admin
        assert session.get(demo_stack.url("/admin/")).ok
        assert "database is locked" not in demo_stack.output()
"""

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[1]
STOP_TIMEOUT = 20


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class DemoStack:
    addr: str
    env: dict
    logs: Path
    started_at: float = 0.0  # time.time() when the processes were started
    procs: dict = field(default_factory=dict)

    def url(self, path="/"):
        return f"http://{self.addr}{path}"

    def manage(self, *args, timeout=300):
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, f"manage.py {' '.join(args)}:\n{result.stderr}"
        return result.stdout

    def start(self, name, argv):
        with (self.logs / f"{name}.log").open("wb") as log:
            self.procs[name] = subprocess.Popen(
                argv,
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self):
        """Everything the three processes printed so far."""
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')}"
            for path in sorted(self.logs.glob("*.log"))
        )

    def dead(self):
        return [name for name, proc in self.procs.items() if proc.poll() is not None]

    def wait_until_up(self, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert not self.dead(), f"{self.dead()} exited:\n{self.output()[-5000:]}"
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.url("/admin/login/"), timeout=5).status_code == 200:
                    return
            time.sleep(0.3)
        raise AssertionError(f"the web server did not answer in {timeout} s:\n{self.output()}")

    def log_in(self, username="admin", password="admin"):
        """A requests.Session logged in to the admin (CSRF and all, as a browser does)."""
        session = requests.Session()
        session.get(self.url("/admin/login/"), timeout=30)
        response = session.post(
            self.url("/admin/login/"),
            data={
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
                "next": "/admin/",
            },
            headers={"Referer": self.url("/admin/login/")},
            timeout=30,
        )
        assert response.ok and "sessionid" in session.cookies, response.text[:2000]
        return session

    def token(self, username="admin", password="admin"):
        response = requests.post(
            self.url("/api/v1/auth/token/"),
            data={"username": username, "password": password},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return response.json()["token"]

    def stop(self):
        # SIGTERM to each main process (django-q2 hangs if its whole group is signalled).
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(STOP_TIMEOUT)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(STOP_TIMEOUT)


@pytest.fixture(scope="session")
def demo_stack(tmp_path_factory):
    """The `make run` processes on a fresh SQLite file (started once per test session)."""
    root = tmp_path_factory.mktemp("demo-stack")
    addr = f"127.0.0.1:{free_port()}"
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        DJANGO_SETTINGS_MODULE="crm.settings",
        DATABASE_URL=f"sqlite:///{root / 'crm.sqlite3'}",
        STATIC_ROOT=str(root / "static"),
        DEBUG="False",
        # What the Makefile's `run` target sets (DEMO_ENV):
        HTTPS="False",
        DEMO_RECEIVER="True",
        INTEGRATION_ALLOWED_URLS=f"http://{addr}/demo/receiver/",
        WEB_CONCURRENCY="2",
        Q_WORKERS="2",
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="INFO",
    )
    logs = root / "logs"
    logs.mkdir()
    stack = DemoStack(addr, env, logs)
    stack.manage("migrate", "--noinput")
    stack.manage("collectstatic", "--noinput", "--verbosity", "0")
    stack.manage("load_demo", "--addr", addr)
    stack.started_at = time.time()
    try:
        gunicorn = [sys.executable, "-m", "gunicorn", "crm.wsgi", "-c", "deploy/gunicorn.conf.py"]
        stack.start("web", [*gunicorn, "-b", addr])
        stack.start("qcluster", [sys.executable, "manage.py", "qcluster"])
        stack.start("dispatcher", [sys.executable, "manage.py", "dispatcher"])
        stack.wait_until_up()
        yield stack
    finally:
        stack.stop()


def server_errors(text):
    """Lines of gunicorn's access log (our format: host "request" status …) with a 5xx."""
    return [line for line in text.splitlines() if re.search(r'" 5\d\d ', line)]
