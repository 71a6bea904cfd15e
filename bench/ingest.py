"""2. Call ingest: calls recorded per second, through the API and by `Call.record()`.

With 1,000 active workflows (as in scenario 1: 1 % in the leads' campaign,
none matching), calls are posted one after another to `POST /api/v1/calls/`
(DRF's APIClient in this process, a superuser's token) and, interleaved in
blocks, recorded with `Call.record()` directly. Each call has a disposition,
so it fires the lead's save, call, disposition and status-change facts.
"""

import itertools
import time

from django.db import transaction

from bench import trigger, world
from bench.stats import median, ms, ratio


def run(opts):
    from rest_framework.test import APIClient

    from automation.engine import rules
    from leads.models import Call

    world.reset()
    w = world.base_world()
    lead_ids = world.make_leads(2 * opts.ingest_calls + 100, w.lists[0])
    world.make_workflows(trigger.background(opts.ingest_workflows, w))
    rules.invalidate()
    rules.current()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {w.token}")
    leads = itertools.cycle(lead_ids)
    dispositions = itertools.cycle(["NA", "NEW"])  # alternate: every call changes the status

    def api_call():
        body = {
            "lead": next(leads),
            "disposition": next(dispositions),
            "call_type": "OUTBOUND",
            "length": 42,
            "term_reason": "CALLER",
        }
        start = time.perf_counter()
        response = client.post("/api/v1/calls/", body, format="json")
        elapsed = time.perf_counter() - start
        assert response.status_code == 201, (response.status_code, response.content[:500])
        return elapsed

    def direct_call():
        lead_id = next(leads)
        disposition = next(dispositions)
        start = time.perf_counter()
        with transaction.atomic():
            Call.record(
                lead_id=lead_id,
                disposition_id=disposition,
                call_type="OUTBOUND",
                length=42,
                term_reason="CALLER",
            )
        return time.perf_counter() - start

    for _ in range(10):  # warm both paths (imports, URL resolver, token lookup)
        api_call()
        direct_call()
    api, direct = [], []
    block = 50
    for round_ in range(max(1, opts.ingest_calls // block)):
        order = (api_call, direct_call) if round_ % 2 == 0 else (direct_call, api_call)
        for func in order:
            (api if func is api_call else direct).extend(func() for _ in range(block))
    api_rate = len(api) / sum(api)
    direct_rate = len(direct) / sum(direct)
    print(
        f"  API {api_rate:.0f} calls/s (median {ms(median(api))}), "
        f"Call.record {direct_rate:.0f} calls/s (median {ms(median(direct))})",
        flush=True,
    )
    return {
        "title": "2. Call ingest",
        "rows": [
            {
                "metric": f"Calls via POST /api/v1/calls/, sequential, {opts.ingest_workflows:,} workflows",
                "value": f"{api_rate:.0f} calls/s (median {ms(median(api))} per call)",
                "target": "—",
                "met": None,
            },
            {
                "metric": "Calls via Call.record() directly (reference)",
                "value": f"{direct_rate:.0f} calls/s (median {ms(median(direct))}); "
                f"API costs {ratio(median(api) / median(direct))}",
                "target": "—",
                "met": None,
            },
        ],
        "notes": [
            f"{len(api)} API calls and {len(direct)} direct ones, interleaved in blocks of "
            f"{block}; calls/s = calls ÷ the sum of their times (one client, no concurrency). "
            "The API path adds token authentication, permission checks, validation "
            "(the lead is fetched to validate it) and serialising the answer."
        ],
    }
