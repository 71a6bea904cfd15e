"""`make bench`: measure the workflow engine on PostgreSQL and write bench/RESULTS.md.

    .venv/bin/python bench/run.py            # the full run (about 10–15 min on 2 cores)
    .venv/bin/python bench/run.py --quick    # a smoke version (about 2 min)
    .venv/bin/python bench/run.py --only trigger,dispatch --skip-scale

Steps:
1. Point Django at the bench's own database (DATABASE_URL, default
   postgres://postgres@127.0.0.1:5432/crm_bench), create it if missing, migrate.
   It refuses a database whose name does not contain "bench": every scenario
   empties the tables it writes.
2. Run the scenarios (bench/<name>.py, each `run(opts)`): trigger, ingest,
   dispatch (+ worker memory), timeliness, scale (its own database,
   <name>_scale, generated once and reused), guard (the send-time guard's
   cost per entry, on and off side by side), insight (workflows/{id}/stats/
   on the scale database; dispatch with the rollups' fold on and off), enroll
   (bulk enrollment's leads/s at rate=1000 and unthrottled).
3. Print the table and write it, with the machine and the date, to
   bench/RESULTS.md (--quick: bench/out/RESULTS-quick.md).
"""

import argparse
import logging
import os
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # run as a script: make `bench` and the project importable

# Run in this order (dispatch last: it skips its Redis runs if they would overrun
# the time budget); reported in the order of the items.
SCENARIOS = ("trigger", "ingest", "timeliness", "scale", "guard", "insight", "enroll", "dispatch")
TITLES = {
    "trigger": "1. Trigger overhead (lead save)",
    "ingest": "2. Call ingest",
    "dispatch": "3. Dispatch throughput",
    "timeliness": "4. Timeliness",
    "scale": "5. Scale",
    "guard": "6. Send-time guard",
    "insight": "7. Insight (rollups)",
    "enroll": "8. Bulk enrollment",
}
BUDGET_SECONDS = 14 * 60  # the whole run must stay under 15 minutes


def options(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke version (~2 min)")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    parser.add_argument("--skip-scale", action="store_true", help="skip the 1M-lead scenario")
    parser.add_argument("--skip-redis", action="store_true", help="dispatch on the ORM broker only")
    parser.add_argument("--dispatch-n", type=int, help="entries drained by the batched design")
    parser.add_argument("--naive-n", type=int, help="entries drained by the naive design")
    parser.add_argument("--out", help="where to write the results (markdown)")
    parser.add_argument(
        "--force", action="store_true", help="allow a DATABASE_URL without 'bench' in its name"
    )
    opts = parser.parse_args(argv)
    wanted = {x.strip() for x in opts.only.split(",")} - {""}
    if wanted - set(SCENARIOS):
        parser.error(f"unknown scenarios: {', '.join(sorted(wanted - set(SCENARIOS)))}")
    opts.only = [s for s in SCENARIOS if s in wanted]
    if opts.skip_scale and "scale" in opts.only:
        opts.only.remove("scale")
    quick = opts.quick
    opts.budget = 180 if quick else BUDGET_SECONDS
    opts.trigger_counts = (0, 10_000) if quick else (0, 100, 1_000, 10_000)
    opts.trigger_saves = 100 if quick else 1_000
    opts.ingest_calls = 100 if quick else 600
    opts.ingest_workflows = 1_000
    # Dispatch: the full run drains the largest N ≤ 100,000 that fits the time budget
    # (bench/dispatch.py plans it after a calibration drain); --quick or --dispatch-n fix it.
    opts.dispatch_n_fixed = quick or opts.dispatch_n is not None
    opts.dispatch_n = opts.dispatch_n or (3_000 if quick else 100_000)
    opts.naive_n = opts.naive_n or (1_000 if quick else 10_000)
    opts.calibration_n = 5_000
    opts.dispatch_repeats = 1 if quick else 3
    opts.timeliness_n = 1_000 if quick else 10_000
    opts.timeliness_spread = 10 if quick else 60
    opts.immediate_calls = 30 if quick else 200
    opts.scale_leads = 20_000 if quick else 1_000_000
    opts.scale_entries = 100_000 if quick else 5_000_000
    opts.scale_pending = 20_000 if quick else 1_000_000
    opts.scale_repeats = 5 if quick else 20
    opts.insight_dispatch_n = 2_000 if quick else 20_000
    opts.insight_repeats = 1 if quick else 2
    opts.insight_parts = {"dispatch-cost"}
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    opts.log_dir = REPO / "bench" / "out" / stamp
    opts.out = Path(
        opts.out
        or (REPO / "bench" / "out" / "RESULTS-quick.md" if quick else REPO / "bench" / "RESULTS.md")
    )
    return opts


def setup_database(opts):
    """DATABASE_URL (default: the bench's own), created if missing, migrated; then Django."""
    from bench import world

    url = os.environ.setdefault("DATABASE_URL", world.DEFAULT_URL)
    # This process enqueues on the ORM broker and is never in sync mode; the
    # Redis runs give their subprocesses REDIS_URL themselves.
    os.environ.pop("REDIS_URL", None)
    os.environ.pop("Q_SYNC", None)
    # The test client speaks plain HTTP: with HTTPS on (the default without
    # DEBUG) every request would be a 301 to https://.
    os.environ.setdefault("HTTPS", "False")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    name = world.database_name(url)
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit(f"bench: DATABASE_URL must be PostgreSQL, not {url!r}")
    if "bench" not in name and not opts.force:
        sys.exit(f"bench: refusing to empty the tables of {name!r} (no 'bench' in its name)")
    created = world.ensure_database(url)
    print(f"database {name}{' (created)' if created else ''}: migrating", flush=True)
    world.migrate(url)
    import django

    django.setup()
    # This process enqueues tasks: django-q2 would log every one of them.
    logging.getLogger("django-q").setLevel(logging.WARNING)
    opts.database_url = url


def code_version():
    """The commit measured, and the tracked files changed in the working tree."""

    def git(*args):
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return done.stdout if done.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    changed = [
        line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines()
    ]
    return head, changed


def main(argv=None):
    opts = options(argv)
    started = opts.started = time.monotonic()
    setup_database(opts)
    opts.log_dir.mkdir(parents=True, exist_ok=True)

    import importlib

    from django.db import connection

    from bench import report, stats

    with connection.cursor() as cursor:
        machine = stats.machine(cursor)
    load_before = stats.loadavg()
    print(f"machine: {machine}\nload average: {load_before}\nlogs: {opts.log_dir}", flush=True)
    sections = []
    for name in opts.only:
        print(f"\n== {name} ==", flush=True)
        t0 = time.monotonic()
        try:
            section = importlib.import_module(f"bench.{name}").run(opts)
        except Exception as exc:
            traceback.print_exc()
            section = {
                "title": TITLES[name],
                "rows": [],
                "notes": [f"**The scenario failed**: `{type(exc).__name__}: {exc}`"],
            }
        section["seconds"] = time.monotonic() - t0
        print(f"   ({section['seconds']:.0f} s)", flush=True)
        sections.append(section)
        if section.get("extra"):
            sections.append({"seconds": 0, **section.pop("extra")})
    meta = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "mode": "quick (smoke)" if opts.quick else "full",
        "command": "bench/run.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine,
        "load_before": load_before,
        "load_after": stats.loadavg(),
        "seconds": time.monotonic() - started,
        "database": opts.database_url,
        "code": code_version(),
    }
    sections.sort(key=lambda section: section["title"])
    text = report.render(meta, sections)
    print("\n" + report.summary(sections))
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(text)
    print(f"\nwritten to {opts.out} ({meta['seconds'] / 60:.1f} min)")


if __name__ == "__main__":
    main()
