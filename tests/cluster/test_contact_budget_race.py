"""The contact budget is race-free with real workers: two SMS entries of the same lead,
due at the same instant, handed to two clusters' workers, never both go out under a
budget of one (SPEC C.3).

How: the runner locks the lead's row in the transaction that claims the entry
and counts under that lock the lead's succeeded *and running* entries of the
channel (automation.execution.sendtime); the second claim waits for the first and sees it
in flight. The gateway answers slowly, so without that both sends would overlap.
"""

import pytest

from automation.constants import EntryState
from automation.models import ContactPolicy, LogEntry
from tests import httpserver
from tests.httpserver import Reply

pytestmark = pytest.mark.cluster

http_server = httpserver.http_server  # the fixture

LEADS = 15


@pytest.mark.parametrize("broker", ["orm", "redis"], indirect=True)
def test_two_workers_never_both_pass_a_budget_of_one(
    broker, make_leads, make_action, make_entries, cluster, dispatcher, wait_until, log,
    subprocess_env, http_server,
):  # fmt: skip
    http_server.handler = lambda received: Reply(body='{"ok": true}', delay=0.5)
    subprocess_env["SMS_PROVIDER_URL"] = http_server.url("/sms")
    ContactPolicy.objects.create(channel="sms", max_per_24h=1)
    leads = make_leads(LEADS)
    # Two workflows, one SMS each, for every lead: all due at once.
    make_entries(make_action("SMS", {"message": "one"}), leads)
    make_entries(make_action("SMS", {"message": "two"}), leads)
    processes = [cluster(), cluster()]
    wait_until(lambda: all(p.ready() for p in processes), 120, "both clusters to start")
    dispatcher()

    def settled():
        # Every entry has run at least once: succeeded, or deferred with its reason.
        not_run = LogEntry.objects.filter(state=EntryState.PENDING, reason="")
        running = LogEntry.objects.filter(state=EntryState.RUNNING)
        return not not_run.exists() and not running.exists()

    wait_until(settled, 180, f"all {2 * LEADS} entries to be tried")

    sent_to = [r.json()["lead_id"] for r in http_server.requests]
    assert sorted(sent_to) == sorted(lead.pk for lead in leads), "one SMS per lead, not two"
    held = LogEntry.objects.exclude(state=EntryState.SUCCEEDED)
    assert held.count() == LEADS
    for entry in held:
        assert entry.state == EntryState.PENDING, (entry.state, entry.reason)
        assert entry.reason.startswith("deferred: contact budget: sms 1 of 1 in 24 h"), entry.reason
        assert entry.attempts == 0
    # Both clusters took part.
    assert all(p.count("Processed") for p in processes)
