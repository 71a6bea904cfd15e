"""A wedged cluster is found, named by /healthz, counted by /metrics, and restarted.

A real wedge cannot be provoked at will any more (that is the point of
automation.execution.cluster), so this one is made by hand: both workers are SIGSTOPped
while idle. Tasks then wait in the cluster's queue with no worker taking
them, which is what a wedge looks like from the outside.
"""

import os
import signal
from collections import Counter

import pytest
from prometheus_client.parser import text_string_to_metric_families

from automation.constants import EntryState, HeartbeatRole
from automation.models import Heartbeat
from tests.cluster.test_self_healing import heartbeat

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]


def test_it_restarts_a_cluster_whose_workers_take_nothing(
    client, cluster, dispatcher, make_leads, field_action, make_entries, wait_until, log, hits
):
    workers = cluster()
    dispatcher()

    def idle_workers():
        row = heartbeat(HeartbeatRole.CLUSTER)
        return row and len(row.info["workers"]) == 2 and not row.info["busy"] and row.info

    info = wait_until(idle_workers, 90, "the cluster's heartbeat")
    for pid in info["workers"]:
        os.kill(pid, signal.SIGSTOP)
    make_entries(field_action(), make_leads(50))

    def wedge_named():
        response = client.get("/healthz")
        body = response.json()
        return response.status_code == 503 and "wedged" in body.get("failing", []) and body

    body = wait_until(wedge_named, 90, "/healthz to name the wedge", interval=1)
    assert any("workers: queued tasks not taken" in part for part in body["wedged"].values())

    wait_until(log.drained, 90, "the restarted cluster to run every entry")
    assert Counter(hits().values()) == {1: 50}
    assert log.states() == {EntryState.SUCCEEDED: 50}
    assert workers.count("restarting the cluster") == 1
    assert Heartbeat.objects.get(role=HeartbeatRole.CLUSTER).wedges == 1
    for pid in info["workers"]:  # the stopped workers were killed, not left behind
        assert not os.path.exists(f"/proc/{pid}") or _zombie(pid)

    text = client.get("/metrics").content.decode()
    wedges = {
        sample.labels["role"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "crm_wedges"
        for sample in family.samples
    }
    assert wedges["cluster"] == 1


def _zombie(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "Z"
