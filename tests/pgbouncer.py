"""Debian's PgBouncer in transaction-pooling mode, for `pytest --pgbouncer`.

The PostgreSQL suite's engine and cluster tests run through it (`make test` does,
after the main run): every transaction may land on another server connection,
so nothing may rely on session state (prepared statements, SET, advisory
locks, WITH HOLD cursors). The test database is created and dropped directly;
the tests' connections, and the subprocesses the cluster tests start (their
DATABASE_URL is built from the connection's settings), go through PgBouncer.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

BINARY = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"

CONFIG = """\
[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen}
unix_socket_dir =
auth_type = trust
auth_file = {root}/users.txt
admin_users = {user}
pool_mode = transaction
max_client_conn = 500
default_pool_size = 40
ignore_startup_parameters = extra_float_digits
logfile = {root}/pgbouncer.log
pidfile = {root}/pgbouncer.pid
"""


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running(host, port, user):
    """A PgBouncer on a free port in front of host:port; yields its port.

    PgBouncer refuses to run as root: as root it runs as the `postgres` user,
    from a folder of its own (pytest's are private to their owner)."""
    root = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    root.chmod(0o755)
    listen = free_port()
    (root / "users.txt").write_text(f'"{user}" ""\n')
    config = root / "pgbouncer.ini"
    config.write_text(
        CONFIG.format(
            host=host or "127.0.0.1", port=port or 5432, listen=listen, root=root, user=user
        )
    )
    command = [BINARY, str(config)]
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        for path in root.iterdir():
            shutil.chown(path, "postgres")
        command = ["runuser", "-u", "postgres", "--", *command]
    # Its output goes to a file, never to a pipe: PgBouncer logs every login to
    # stderr too, and once a pipe nobody reads is full it blocks, and with it
    # every connection of the run.
    output = root / "output.log"
    with output.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", listen), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = root / "pgbouncer.log"
                    raise RuntimeError(
                        f"pgbouncer did not start: {output.read_text()}"
                        f"{log.read_text() if log.exists() else ''}"
                    ) from None
                time.sleep(0.1)
        yield listen
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)
