"""/healthz and /metrics (SPEC Appendix C.1)."""

from datetime import timedelta

import pytest
from django.db import DatabaseError
from django.utils import timezone
from prometheus_client import Counter
from prometheus_client.parser import text_string_to_metric_families

from automation.constants import EntryState, HeartbeatRole
from automation.models import Endpoint, Heartbeat, LogEntry
from crm import health


@pytest.fixture
def dispatcher_seen(db):
    def seen(seconds_ago=0, **fields):
        return Heartbeat.objects.update_or_create(
            name="dispatcher test:1",
            defaults={
                "role": HeartbeatRole.DISPATCHER,
                "seen_at": timezone.now() - timedelta(seconds=seconds_ago),
                **fields,
            },
        )[0]

    return seen


def finish(entry, **fields):
    LogEntry.objects.filter(pk=entry.pk).update(state=EntryState.SUCCEEDED, **fields)


def get_health(client):
    response = client.get("/healthz")
    return response.status_code, response.json()


def test_it_is_healthy_when_a_dispatcher_claims_and_nothing_is_late(
    client, dispatcher_seen, make_lead, make_entry
):
    heartbeat = dispatcher_seen()
    make_entry(make_lead(), action_type="FIELD", due_at=timezone.now() - timedelta(seconds=5))
    status, body = get_health(client)
    assert status == 200, body
    assert body["database"] == "ok"
    assert body["broker"] == "ok"
    assert body["dispatcher"] == {"ok": True, "last_seen": heartbeat.seen_at.isoformat()}
    assert 4 <= body["due_lag_seconds"] < 60
    assert "failing" not in body


def test_it_needs_no_login(client, dispatcher_seen):
    dispatcher_seen()
    assert client.get("/healthz").status_code == 200


def test_it_names_a_dispatcher_not_seen_for_30_seconds(client, dispatcher_seen):
    dispatcher_seen(seconds_ago=31)
    status, body = get_health(client)
    assert status == 503
    assert body["dispatcher"]["ok"] is False
    assert body["failing"] == ["dispatcher"]


def test_it_names_a_dispatcher_never_seen(client, db):
    status, body = get_health(client)
    assert status == 503
    assert body["dispatcher"] == {"ok": False, "last_seen": None}
    assert body["failing"] == ["dispatcher"]


def test_it_names_an_entry_more_than_60_seconds_late(
    client, dispatcher_seen, make_lead, make_entry
):
    dispatcher_seen()
    make_entry(make_lead(), action_type="FIELD", due_at=timezone.now() - timedelta(seconds=61))
    status, body = get_health(client)
    assert status == 503
    assert body["due_lag_seconds"] > 60
    assert body["failing"] == ["due_lag"]


def test_it_ignores_late_entries_that_have_finished(client, dispatcher_seen, make_lead, make_entry):
    dispatcher_seen()
    old = timezone.now() - timedelta(minutes=5)
    finish(make_entry(make_lead(), action_type="FIELD", due_at=old))
    status, body = get_health(client)
    assert status == 200
    assert body["due_lag_seconds"] == 0


def test_it_names_the_wedged_part(client, dispatcher_seen):
    dispatcher_seen()
    Heartbeat.objects.create(
        name="cluster host:42",
        role=HeartbeatRole.CLUSTER,
        seen_at=timezone.now(),
        wedged="workers: queued tasks not taken for 31 s",
    )
    status, body = get_health(client)
    assert status == 503
    assert body["failing"] == ["wedged"]
    assert body["wedged"] == {"cluster host:42": "workers: queued tasks not taken for 31 s"}


def test_it_forgets_the_wedge_of_a_process_gone_for_30_seconds(client, dispatcher_seen):
    dispatcher_seen()
    Heartbeat.objects.create(
        name="cluster host:42",
        role=HeartbeatRole.CLUSTER,
        seen_at=timezone.now() - timedelta(seconds=31),
        wedged="workers: queued tasks not taken for 31 s",
    )
    assert get_health(client)[0] == 200


def test_it_names_an_unreachable_database(client, dispatcher_seen, monkeypatch):
    dispatcher_seen()

    class Down:
        def cursor(self):
            raise DatabaseError("connection refused")

    monkeypatch.setattr(health, "connection", Down())
    monkeypatch.setattr(health, "check_broker", lambda: None)
    status, body = get_health(client)
    assert status == 503
    assert body["database"].startswith("unreachable: DatabaseError")
    assert body["failing"] == ["database"]


def test_it_names_an_unreachable_broker(client, dispatcher_seen, settings):
    dispatcher_seen()
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    status, body = get_health(client)
    assert status == 503
    assert body["broker"].startswith("unreachable:")
    assert body["failing"] == ["broker"]


# /metrics -------------------------------------------------------------------


def scrape(client, **extra):
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("text/plain")
    return {
        family.name: family for family in text_string_to_metric_families(response.content.decode())
    }


def samples(family):
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples}


def test_it_counts_entries_triggers_attempts_heartbeat_and_wedges(
    client, dispatcher_seen, make_lead, make_entry
):
    heartbeat = dispatcher_seen(wedges=2)
    lead = make_lead()
    make_entry(lead, action_type="FIELD", due_at=timezone.now() - timedelta(seconds=3))
    finish(make_entry(lead, action_type="FIELD"))
    hook = Endpoint.objects.create(name="CRM hook", url="https://crm.example/hook")
    finish(make_entry(lead, action_type="INTEGRATION", config={"endpoint": hook.pk}), attempts=2)
    families = scrape(client)

    entries = samples(families["crm_entries"])
    assert entries[(("action_type", "FIELD"), ("state", "pending"))] == 1
    assert entries[(("action_type", "FIELD"), ("state", "succeeded"))] == 1
    assert samples(families["crm_triggers"]) == {(("outcome", "fired"),): 3}
    assert samples(families["crm_endpoint_attempts"]) == {
        (("endpoint", "CRM hook"), ("result", "succeeded")): 2
    }
    assert families["crm_due_lag_seconds"].samples[0].value >= 3
    assert families["crm_dispatcher_heartbeat_timestamp_seconds"].samples[0].value == pytest.approx(
        heartbeat.seen_at.timestamp()
    )
    assert samples(families["crm_wedges"]) == {(("role", "dispatcher"),): 2}
    assert families["crm_wedged"].samples[0].value == 0


def test_it_names_the_endpoints_whose_breaker_is_not_closed(client, db):
    from automation.execution import breaker

    down = Endpoint.objects.create(name="Down hook", url="https://down.example/hook")
    Endpoint.objects.create(name="Fine hook", url="https://fine.example/hook")
    breaker.pause(down)
    families = scrape(client)
    assert samples(families["crm_endpoint_breaker_open"]) == {
        (("endpoint", "Down hook"), ("state", "paused")): 1
    }


def test_it_serves_the_default_registry_too(client, db):
    # Other modules register their own metrics there (e.g. unhandled exceptions).
    counter = Counter("crm_test_things", "A metric of another module.")
    try:
        counter.inc()
        families = scrape(client)
        assert families["crm_test_things"].samples[0].value == 1
        assert "crm_entries" in families
    finally:
        from prometheus_client import REGISTRY

        REGISTRY.unregister(counter)


def test_it_answers_loopback_only_without_a_token(client, db):
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403


def test_it_needs_the_bearer_token_when_one_is_set(client, db, settings):
    settings.METRICS_TOKEN = "s3cret"
    assert client.get("/metrics").status_code == 401  # even from loopback
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 401
    remote = {"REMOTE_ADDR": "203.0.113.9", "HTTP_AUTHORIZATION": "Bearer s3cret"}
    assert "crm_entries" in scrape(client, **remote)
