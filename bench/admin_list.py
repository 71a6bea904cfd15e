"""The admin's log list on the scale database (issue #5: well under a second at 1M+ entries).

Run after `bench/run.py` has generated `<bench database>_scale` (make bench does
both). Renders the real changelist through Django's test client as a
superuser, median of 5 after one warm-up, and replaces the "Admin log list"
section of bench/RESULTS.md.
"""

import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## 6b. Admin log list at scale"


def main():
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/crm_bench_scale")
    # The test client speaks plain HTTP: with HTTPS on (the default without
    # DEBUG) every request would be a 301 to https://.
    os.environ.setdefault("HTTPS", "False")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command

    # The admin's pages name their static files through the manifest (DEBUG off),
    # as `make run` has them collected.
    call_command("collectstatic", interactive=False, verbosity=0)
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from automation.models import LogEntry

    total = LogEntry.objects.count()
    if total < 1_000_000:
        sys.exit(
            f"admin_list: {total:,} log entries in {connection.settings_dict['NAME']}: run bench/run.py first"
        )
    user = User.objects.filter(username="bench-admin").first() or User.objects.create_superuser(
        "bench-admin", "bench@example.invalid", "pw-bench-admin-1"
    )
    client = Client()
    client.force_login(user)
    first = (
        LogEntry.objects.order_by("-created_at")
        .values("workflow_id", "lead_id", "created_at")
        .first()
    )
    day = first["created_at"].date()
    week_ago = day.fromordinal(day.toordinal() - 7)
    base = "/admin/automation/logentry/"
    pages = [
        ("first page, no filter", base),
        (
            "workflow + 7-day date range",
            f"{base}?workflow={first['workflow_id']}&created_at_from={week_ago}&created_at_to={day}",
        ),
        ("one lead (lead ID filter)", f"{base}?lead={first['lead_id']}"),
        ("action type + state", f"{base}?action_type__exact=FIELD&state__exact=pending"),
    ]
    rows = []
    for label, url in pages:
        times = []
        for _ in range(6):
            started = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - started)
            assert response.status_code == 200, (url, response.status_code)
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        slowest = max(float(q["time"]) for q in queries.captured_queries)
        full_count = any(
            re.match(r'SELECT COUNT\(\*\) AS "__count" FROM "automation_logentry"\s*$', q["sql"])
            for q in queries.captured_queries
        )
        rows.append(
            f"| {label} | {statistics.median(times[1:]) * 1000:.0f} ms | {len(queries.captured_queries)} "
            f"| {slowest * 1000:.0f} ms | {'yes' if full_count else 'no'} |"
        )
    table = "\n".join(
        [
            SECTION,
            "",
            f"`python bench/admin_list.py` on {total:,} log entries: the real admin changelist "
            "rendered through Django's test client, median of 5 after a warm-up.",
            "",
            "| Page | Render time | Queries | Slowest query | Full COUNT(*) |",
            "|---|---|---|---|---|",
            *rows,
            "",
        ]
    )
    print(table)
    text = RESULTS.read_text() if RESULTS.exists() else ""
    text = re.sub(rf"{re.escape(SECTION)}.*?(?=\n## |\Z)", "", text, flags=re.S).rstrip() + "\n\n"
    RESULTS.write_text(text + table)


if __name__ == "__main__":
    main()
