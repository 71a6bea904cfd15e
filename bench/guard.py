"""6. Send-time guard: the runner's cost per entry with the guard's reads on and off.

In this process, no cluster: entries are run by `automation.execution.runner` directly,
in alternating blocks (on, off, off, on, …) after a warm-up, so that both
sides see the same machine load. Two kinds of entry:

- HOPPER (internal, an outreach action: DNC, calling rules and the call budget
  apply), run in batches of 50 as a django-q2 task runs them;
- SMS (external), one by one, to a provider that answers at once (no HTTP:
  what is measured is the runner, not a gateway).

"On" is the shipped runner: automation.execution.sendtime reads the leads' campaigns, DNC
hits, active calling rules, contact policies and budget counts, and the pure
guard decides. "Off" replaces those reads by empty facts (the guard's pure
checks still run, with nothing to find). The world: every lead in Texas, one
open Texas calling rule, default SMS and call policies with room to spare, 1,000
unrelated DNC numbers, and 3 succeeded SMS and 3 HOPPER entries per lead in the
last week for the budget to count.
"""

import time

BLOCKS = 6
HOPPER_PER_BLOCK = 500
SMS_PER_BLOCK = 150


def world(leads_n):
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from automation.models import CallingRule, ContactPolicy
    from bench import world as bench_world
    from leads.models import DncEntry, Lead

    bench_world.reset()
    w = bench_world.base_world()
    lead_ids = bench_world.make_leads(leads_n, w.lists[0])
    Lead.objects.filter(pk__in=lead_ids).update(state="TX", timezone="America/Chicago")
    _, (hopper, sms) = bench_world.make_workflows(
        [
            {"name": "Guard bench HOPPER", "all_campaigns": True,
             "sets": [(0, [("HOPPER", {"priority": 50})])]},
            {"name": "Guard bench SMS", "all_campaigns": True,
             "sets": [(0, [("SMS", {"message": "Hi {first_name}"})])]},
        ]
    )  # fmt: skip
    CallingRule.objects.create(
        name="Bench Texas", state="TX", hours={str(d): ["00:00", "24:00"] for d in range(7)},
        blocked_dates=["2030-12-25"],
    )  # fmt: skip
    for channel in ("sms", "call"):
        ContactPolicy.objects.create(channel=channel, max_per_24h=1000, max_per_7d=10000)
    DncEntry.objects.bulk_create(
        DncEntry(phone_number=f"+1212555{i:04d}", source="bench") for i in range(1000)
    )
    # History for the budget to count: 3 SMS and 3 HOPPER per lead, finished in the last week.
    now = timezone.now()
    for action_id, kind in ((sms, "SMS"), (hopper, "HOPPER")):
        for days in (1, 3, 5):
            bench_world.make_entries(action_id, lead_ids, due_sql="now()")
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE automation_logentry SET state = 'succeeded', finished_at = %s "
                    "WHERE state = 'pending' AND action_type = %s",
                    [now - timedelta(days=days), kind],
                )
    return lead_ids, hopper, sms


def new_entries(action_id, lead_ids):
    from automation.models import LogEntry
    from bench import world as bench_world

    bench_world.make_entries(action_id, lead_ids)
    return list(
        LogEntry.objects.filter(action_id=action_id, state="pending")
        .order_by("pk")
        .values_list("pk", flat=True)
    )


class Switch:
    """Turns the guard's reads off (empty facts) and on again."""

    def __init__(self):
        from automation.execution import runner, sendtime

        self.runner, self.sendtime = runner, sendtime
        self.real = runner.guard_facts

    def set(self, on):
        empty = lambda entries, leads, now: self.sendtime.Facts({}, now)  # noqa: E731
        self.runner.guard_facts = self.real if on else empty


def run_hopper(ids):
    from automation.execution import runner

    start = time.perf_counter()
    for i in range(0, len(ids), 50):
        runner.run_entries(ids[i : i + 50])
    return (time.perf_counter() - start) / len(ids)


def run_sms(ids):
    from automation.execution import runner
    from automation.execution.actions import EXECUTORS

    executor = EXECUTORS["SMS"]
    start = time.perf_counter()
    for entry_id in ids:
        runner.run_external(entry_id, executor)
    return (time.perf_counter() - start) / len(ids)


class Provider:
    name = "bench"

    def send(self, to, text, *, lead_id, idempotency_key):
        from automation.execution import providers

        return providers.Delivery(True, self.name)


def pure_cost():
    """The pure guard alone on a full snapshot (µs per decision)."""
    from datetime import UTC, datetime, timedelta

    from automation.engine import guard

    now = datetime(2026, 6, 3, 17, 0, tzinfo=UTC)
    rule = guard.CallingRule("TX", "TX", hours={d: (0, 1440) for d in range(7)})
    policy = guard.Policy("sms", "default", 1000, 10000)
    snapshot = guard.EntrySnapshot(
        action_type="SMS", known_type=True, workflow_active=True, action_present=True,
        action_active=True, lead_present=True, runs_without_lead=False, stopped_now=False,
        stopped_at_trigger=False, stop_reason="", skip_if_live_call=False, now=now,
        zone_name="America/Chicago", window="8-9", channel="sms", lead_state="TX",
        calling_rules=(rule,),
        budget=guard.Budget(policy, tuple(now - timedelta(days=d) for d in (1, 3, 5))),
    )  # fmt: skip
    n = 20_000
    start = time.perf_counter()
    for _ in range(n):
        guard.decide(snapshot)
    return (time.perf_counter() - start) / n


def run(opts):
    from automation.execution import providers
    from bench.stats import median, ms, ratio

    quick = opts.quick
    blocks = 2 if quick else BLOCKS
    hopper_n = 200 if quick else HOPPER_PER_BLOCK
    sms_n = 50 if quick else SMS_PER_BLOCK
    lead_ids, hopper, sms = world(max(hopper_n, sms_n))
    switch = Switch()
    real_provider = providers.get_provider
    providers.get_provider = lambda kind: Provider()
    times = {("HOPPER", True): [], ("HOPPER", False): [], ("SMS", True): [], ("SMS", False): []}
    try:
        # A warm-up block of each (the first HOPPER run inserts hopper rows, later
        # ones update them), then on/off in ABBA order so that a drift in the
        # machine's load or the tables' growth favours neither side.
        run_hopper(new_entries(hopper, lead_ids[:hopper_n]))
        run_sms(new_entries(sms, lead_ids[:sms_n]))
        for block in range(blocks * 2):
            on = block % 4 in (0, 3)
            switch.set(on)
            times[("HOPPER", on)].append(run_hopper(new_entries(hopper, lead_ids[:hopper_n])))
            times[("SMS", on)].append(run_sms(new_entries(sms, lead_ids[:sms_n])))
    finally:
        switch.set(True)
        providers.get_provider = real_provider
    pure = pure_cost()
    med = {key: median(values) for key, values in times.items()}
    rows = []
    for kind, label in (("HOPPER", "internal HOPPER, batches of 50"), ("SMS", "external SMS")):
        on, off = med[(kind, True)], med[(kind, False)]
        rows.append(
            {
                "metric": f"Send-time guard, {label}: per entry on ÷ off",
                "value": f"{ratio(on / off)} ({ms(on)} vs {ms(off)}; +{ms(on - off)})",
                "target": "—",
                "met": None,
            }
        )
    rows.append(
        {
            "metric": "Send-time guard: the pure decision alone (window, DNC, rule, budget)",
            "value": f"{pure * 1e6:.1f} µs",
            "target": "—",
            "met": None,
        }
    )
    table = [
        "| Entries | Guard on (median per entry) | Guard off | Added | Blocks |",
        "|---|---|---|---|---|",
    ]
    for kind, n in (("HOPPER", hopper_n), ("SMS", sms_n)):
        on, off = med[(kind, True)], med[(kind, False)]
        table.append(
            f"| {kind} ×{n} per block | {ms(on)} | {ms(off)} | {ms(on - off)} | {blocks} + {blocks} |"
        )
    notes = [
        __doc__.split("\n\n", 1)[1].strip(),
        "The external path locks the lead's row in the claim's transaction in both columns "
        "(that lock is what makes the budget race-free; it is part of the runner now).",
    ]
    return {"title": "6. Send-time guard", "rows": rows, "table": table, "notes": notes}
