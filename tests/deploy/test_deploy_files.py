"""deploy/: what can be checked without Docker or systemd running here.

The compose file parses and each of its processes runs a command that exists;
each systemd unit's ExecStart names an existing command (and `systemd-analyze
verify` accepts the units, where it is installed); gunicorn accepts its config;
`check --deploy` has nothing to say about production settings.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
GUNICORN = [sys.executable, "-m", "gunicorn"]


def production_env(**extra):
    # Not this process's environment: the browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in it.
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env.update(SECRET_KEY="x" * 20 + "-a-long-random-production-secret-key-" + "y" * 20)
    env.update(DEBUG="False", PYTHONPATH=str(REPO), **extra)
    return env


def assert_runs_an_existing_command(argv, where):
    """`python manage.py <command> …` with a command that exists, or gunicorn on our app."""
    program = Path(argv[0]).name
    if program.startswith("python"):
        assert argv[1] == "manage.py", where
        assert argv[2] in get_commands(), f"{where}: no manage.py command {argv[2]!r}"
    elif program == "gunicorn":
        assert "crm.wsgi" in argv, where
        config = Path(argv[argv.index("-c") + 1])
        if config.is_absolute():  # as installed: /opt/crm is this checkout
            config = config.relative_to("/opt/crm")
        assert (REPO / config).exists(), f"{where}: no {config}"
    else:
        raise AssertionError(f"{where}: unexpected program {argv[0]!r}")


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_holds_the_production_processes(compose):
    services = compose["services"]
    commands = {name: s.get("command") for name, s in services.items()}

    assert {"postgres", "redis", "migrate", "web", "dispatcher"} <= services.keys()
    workers = [name for name, cmd in commands.items() if cmd and cmd[-1] == "workers"]
    assert len(workers) == 2, commands
    assert commands["migrate"] == ["python", "manage.py", "migrate", "--noinput"]
    for name in ["web", "dispatcher", *workers]:
        service = services[name]
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert service["environment"]["REDIS_URL"].startswith("redis://redis:")
        assert service["environment"]["DATABASE_URL"].startswith("postgres://")


def test_compose_commands_exist(compose):
    for name, service in compose["services"].items():
        if "build" in service:  # our image; postgres and redis run their own
            assert_runs_an_existing_command(service["command"], f"compose service {name}")


def test_the_image_copies_what_exists_and_runs_the_web_command(compose):
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    for line in re.findall(r"^COPY (.+)$", dockerfile, re.MULTILINE):
        *sources, _target = line.split()
        for source in sources:
            assert (REPO / source).exists(), f"Dockerfile copies {source}, which is missing"
    (cmd,) = re.findall(r"^CMD (.+)$", dockerfile, re.MULTILINE)
    assert yaml.safe_load(cmd) == compose["services"]["web"]["command"]


def unit(path):
    """A unit file's [Section] key=value lines (no repeated keys in ours)."""
    sections, current = {}, None
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
        elif line and not line.startswith("#"):
            key, _, value = line.partition("=")
            current[key] = value
    return sections


def test_there_is_a_unit_for_each_process():
    names = {path.stem for path in UNITS}

    assert names == {"crm-web", "crm-worker", "crm-dispatcher"}


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.stem)
def test_each_units_command_exists(path):
    service = unit(path)["Service"]
    argv = shlex.split(service["ExecStart"])

    assert argv[0].startswith("/opt/crm/.venv/bin/")
    assert (REPO / ".venv" / "bin" / Path(argv[0]).name).exists() or shutil.which(
        Path(argv[0]).name
    )
    assert_runs_an_existing_command(argv, path.name)
    assert service["EnvironmentFile"] == "/etc/crm/crm.env"


def test_the_worker_unit_signals_only_the_main_process():
    service = unit(DEPLOY / "systemd" / "crm-worker.service")["Service"]

    # systemd's default (control-group) would SIGTERM every process: django-q2 hangs.
    assert service["KillMode"] == "mixed"
    assert service["KillSignal"] == "SIGTERM"


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_systemd_accepts_the_units(tmp_path):
    # The units as installed in /opt/crm, pointed at this checkout and its venv instead.
    venv_bin = str(Path(sys.executable).parent) + "/"
    for path in UNITS:
        text = path.read_text().replace("/opt/crm/.venv/bin/", venv_bin)
        text = text.replace("/etc/crm/crm.env", str(DEPLOY / "systemd" / "crm.env"))
        text = text.replace("/opt/crm", str(REPO))
        text = re.sub(r"^(User|Group)=crm$", r"\1=root", text, flags=re.MULTILINE)
        (tmp_path / path.name).write_text(text)

    result = subprocess.run(
        ["systemd-analyze", "verify", *sorted(str(p) for p in tmp_path.glob("*.service"))],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_gunicorn_accepts_its_config_and_reads_the_environment(tmp_path):
    env = production_env(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", WEB_CONCURRENCY="3")
    command = [*GUNICORN, "crm.wsgi", "-c", "deploy/gunicorn.conf.py", "--check-config"]

    result = subprocess.run(
        [*command, "--print-config"], cwd=REPO, env=env, capture_output=True, text=True
    )

    assert result.returncode == 0, result.stderr
    assert re.search(r"^workers\s*=\s*3$", result.stdout, re.MULTILINE), result.stdout


def test_check_deploy_finds_nothing_with_a_secret_key_and_debug_off(tmp_path):
    env = production_env(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
