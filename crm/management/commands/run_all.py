"""`make run`: the web server, a django-q2 cluster and the dispatcher, stopped together."""

import os
import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run runserver + qcluster + dispatcher together; Ctrl-C stops all three."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000")

    def handle(self, addr, **options):
        manage = [sys.executable, "manage.py"]
        commands = {
            "web": [
                sys.executable,
                "-m",
                "gunicorn",
                "crm.wsgi",
                "-c",
                "deploy/gunicorn.conf.py",
                "-b",
                addr,
            ],
            "workers": [*manage, "qcluster"],
            "dispatcher": [*manage, "dispatcher"],
        }
        procs = {
            name: subprocess.Popen(cmd, env=os.environ.copy()) for name, cmd in commands.items()
        }
        self.stdout.write(
            f"Serving http://{addr}/admin/ — Ctrl-C stops web, workers and dispatcher."
        )
        stopping = []
        signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        try:
            while not stopping:
                dead = [name for name, p in procs.items() if p.poll() is not None]
                if dead:
                    self.stderr.write(f"{', '.join(dead)} exited: stopping the others.")
                    break
                time.sleep(0.5)
        finally:
            # Signal each main process (django-q2 hangs if its whole group is signalled).
            for p in procs.values():
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for p in procs.values():
                try:
                    p.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    p.kill()
