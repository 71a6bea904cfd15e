"""The endpoint circuit breaker (SPEC C.5) against a real local HTTP server that fails
and recovers. The clock is injected: `drain(t)` plays the dispatcher at time t, running
every entry due by then (each retry and deferral included) until none is due."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group, Permission, User
from rest_framework.test import APIClient

from automation.constants import BreakerState, EntryState
from automation.execution import breaker, dispatcher, runner
from automation.models import Endpoint, EndpointAttempt, EndpointBreaker, LogEntry, Notification
from crm import http
from tests import httpserver
from tests.httpserver import Reply

pytestmark = pytest.mark.django_db
http_server = httpserver.http_server

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@pytest.fixture
def endpoint(http_server):
    return Endpoint.objects.create(name="Partner CRM", url=http_server.url("/hook"))


@pytest.fixture
def integrations(make_lead, make_action, make_entry):
    """`integrations(endpoint, n)`: n pending INTEGRATION entries (one action), due NOW."""

    def make(endpoint, n, due_at=NOW):
        action = make_action("INTEGRATION", {"endpoint": endpoint.pk})
        lead = make_lead()
        return [make_entry(lead, action, occurred_at=due_at) for _ in range(n)]

    return make


def drain(now, limit=500):
    """Run every pending entry due by `now`, in due order, until none is left due."""
    for _ in range(limit):
        due = (
            LogEntry.objects.filter(state=EntryState.PENDING, due_at__lte=now)
            .order_by("due_at", "pk")
            .values_list("pk", flat=True)
            .first()
        )
        if due is None:
            return
        runner.run_entry(due, now=now)
    raise AssertionError("entries kept coming due")


def states(entries):
    return sorted(
        LogEntry.objects.filter(pk__in=[e.pk for e in entries]).values_list("state", flat=True)
    )


def state_of(endpoint):
    return breaker.health(endpoint)["state"]


def test_it_stops_hammering_a_dead_endpoint_within_10_attempts_and_recovers_by_itself(
    endpoint, integrations, http_server
):
    http_server.handler = lambda received: Reply(status=503, body="down for maintenance")
    entries = integrations(endpoint, 30)

    drain(NOW)

    assert len(http_server.requests) == 10  # breaker_failures (default 10): then nothing
    assert state_of(endpoint) == BreakerState.OPEN
    waiting = LogEntry.objects.filter(state=EntryState.PENDING, attempts=0)
    assert waiting.count() == 20
    for entry in waiting:
        assert entry.reason.startswith('deferred: endpoint "Partner CRM" is open')
        assert entry.due_at == NOW + timedelta(seconds=60)  # the next probe
    assert Notification.objects.filter(endpoint=endpoint).count() == 1

    # Retries of the ten that failed come due before the probe: deferred, nothing sent.
    drain(NOW + timedelta(seconds=30))
    assert len(http_server.requests) == 10
    assert LogEntry.objects.filter(state=EntryState.PENDING).count() == 30

    # The probe: one request, still down. Open again, the next probe a minute on.
    drain(NOW + timedelta(seconds=61))
    assert len(http_server.requests) == 11
    assert state_of(endpoint) == BreakerState.OPEN
    assert not LogEntry.objects.filter(
        state=EntryState.PENDING, due_at__lte=NOW + timedelta(seconds=61)
    ).exists()

    # The endpoint recovers: the next probe succeeds, closes it, and everything goes out.
    http_server.handler = lambda received: Reply(status=200, body='{"ok": true}')
    drain(NOW + timedelta(seconds=121))
    assert state_of(endpoint) == BreakerState.CLOSED
    assert states(entries) == [EntryState.SUCCEEDED] * 30
    assert len(http_server.requests) == 11 + 30
    assert Notification.objects.filter(endpoint=endpoint).count() == 1  # one per opening


def test_it_makes_the_waiting_entries_due_at_once_when_it_closes(
    endpoint, integrations, http_server
):
    endpoint.breaker_failures = 2
    endpoint.breaker_probe_seconds = 600
    endpoint.save()
    http_server.handler = lambda received: Reply(status=500)
    integrations(endpoint, 5)
    drain(NOW)
    assert len(http_server.requests) == 2
    parked = LogEntry.objects.filter(state=EntryState.PENDING, attempts=0)
    assert {e.due_at for e in parked} == {NOW + timedelta(seconds=600)}
    # A request sent before it opened gets its answer late: the endpoint is alive.
    answered = NOW + timedelta(seconds=10)
    breaker.record(endpoint, http.Outcome(ok=True, status_code=200, attempts=1), answered)
    assert state_of(endpoint) == BreakerState.CLOSED
    # The entries that waited on the breaker are due now, not at the probe time.
    assert parked.count() == 3
    assert {(e.due_at, e.reason) for e in parked.all()} == {(answered, "")}
    http_server.handler = lambda received: Reply(status=200)
    drain(answered)
    assert not LogEntry.objects.filter(state=EntryState.PENDING, attempts=0).exists()


@pytest.mark.parametrize(
    "reply",
    [
        Reply(status=503),
        Reply(status=429),
        Reply(status=502, body="bad gateway"),
        Reply(drop=True),  # no answer at all: a connection error
    ],
    ids=["503", "429", "502", "dropped"],
)
def test_it_opens_on_every_kind_of_breaker_failure(endpoint, integrations, http_server, reply):
    endpoint.breaker_failures = 3
    endpoint.save()
    http_server.handler = lambda received: reply
    integrations(endpoint, 6)
    drain(NOW)
    assert len(http_server.requests) == 3
    assert state_of(endpoint) == BreakerState.OPEN


def test_it_opens_on_timeouts(endpoint, integrations, http_server):
    endpoint.breaker_failures = 2
    endpoint.timeout_seconds = 1
    endpoint.save()
    http_server.handler = lambda received: Reply(status=200, delay=1.5)
    integrations(endpoint, 4)
    drain(NOW)
    assert len(http_server.requests) == 2
    assert state_of(endpoint) == BreakerState.OPEN
    assert breaker.health(endpoint, NOW)["last_error"].startswith("timeout")


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_it_never_opens_on_other_4xx(endpoint, integrations, http_server, status):
    endpoint.breaker_failures = 3
    endpoint.save()
    http_server.handler = lambda received: Reply(status=status, body="rejected")
    entries = integrations(endpoint, 12)
    drain(NOW)
    assert len(http_server.requests) == 12  # every one sent: the endpoint answers
    assert states(entries) == [EntryState.FAILED] * 12
    health = breaker.health(endpoint, NOW)
    assert health["state"] == BreakerState.CLOSED
    assert health["consecutive_failures"] == 0
    assert health["success_rate_5m"] == 0.0
    assert not Notification.objects.filter(endpoint=endpoint).exists()


def test_an_answer_resets_the_count_of_consecutive_failures(endpoint, integrations, http_server):
    endpoint.breaker_failures = 3
    endpoint.max_attempts = 1
    endpoint.save()
    replies = iter([500, 500, 400, 500, 500, 200, 500, 500])
    http_server.handler = lambda received: Reply(status=next(replies))
    integrations(endpoint, 8)
    drain(NOW)
    assert len(http_server.requests) == 8
    assert state_of(endpoint) == BreakerState.CLOSED
    assert breaker.health(endpoint, NOW)["consecutive_failures"] == 2


def test_it_opens_once_however_often_it_is_told(
    endpoint, settings, mailoutbox, django_capture_on_commit_callbacks
):
    settings.ADMIN_EMAILS = ["ops@example.com"]
    EndpointAttempt.objects.bulk_create(
        EndpointAttempt(endpoint=endpoint, at=NOW, ok=False, breaker_failure=True, error="http 503")
        for _ in range(10)
    )
    with django_capture_on_commit_callbacks(execute=True):
        opened = [breaker.failed(endpoint, NOW) for _ in range(3)]
    assert opened == [True, False, False]
    assert Notification.objects.filter(endpoint=endpoint).count() == 1
    assert len(mailoutbox) == 1
    assert mailoutbox[0].subject == "Endpoint open: Partner CRM"
    assert mailoutbox[0].to == ["ops@example.com"]
    assert "10 consecutive failed attempts" in mailoutbox[0].body


def test_it_defers_a_batch_of_blocked_entries_in_one_go_and_the_dispatcher_leaves_them(
    endpoint, integrations, http_server
):
    breaker.pause(endpoint, now=NOW)
    entries = integrations(endpoint, 5)
    ids = [e.pk for e in entries]
    runner.run_entries(ids, now=NOW)
    assert http_server.requests == []
    for entry in LogEntry.objects.filter(pk__in=ids):
        assert entry.state == EntryState.PENDING
        assert entry.attempts == 0
        assert entry.reason == 'deferred: endpoint "Partner CRM" is paused by an operator'
        assert entry.due_at == NOW + breaker.PAUSE_PARK
    # Not claimed (and re-deferred) on every poll: they left the due range.
    assert dispatcher.claim(NOW + timedelta(minutes=1)) == []


def test_pause_and_resume_switch_sending_by_hand(endpoint, integrations, http_server):
    entries = integrations(endpoint, 3)
    assert breaker.pause(endpoint, user="olga", now=NOW)
    drain(NOW)
    assert http_server.requests == []
    assert state_of(endpoint) == BreakerState.PAUSED
    # Paused: no probes, however long.
    drain(NOW + breaker.PAUSE_PARK + timedelta(seconds=1))
    assert http_server.requests == []
    later = NOW + breaker.PAUSE_PARK + timedelta(seconds=2)
    assert breaker.resume(endpoint, user="olga", now=later)
    assert EndpointBreaker.objects.get(endpoint=endpoint).changed_by == "olga"
    drain(later)
    assert len(http_server.requests) == 3
    assert states(entries) == [EntryState.SUCCEEDED] * 3


# --- The API -------------------------------------------------------------------------


@pytest.fixture
def user_in(groups):
    def make(group):
        user = User.objects.create_user(group, password="pw")
        user.groups.add(Group.objects.get(name=group))
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def groups(db):
    from crm import groups

    groups.sync()


def test_the_health_endpoint_answers_the_spec_shape(endpoint, integrations, http_server, user_in):
    replies = iter([Reply(status=200), Reply(status=200), Reply(status=503, body="busy")])
    http_server.handler = lambda received: next(replies)
    integrations(endpoint, 3)
    now = datetime.now(UTC)
    drain(now)
    response = user_in("operator").get(f"/api/v1/endpoints/{endpoint.pk}/health/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "state", "success_rate_5m", "p95_ms_5m", "consecutive_failures", "last_error", "opened_at",
    }  # fmt: skip
    assert body["state"] == "closed"
    assert body["success_rate_5m"] == pytest.approx(2 / 3, abs=1e-3)
    assert isinstance(body["p95_ms_5m"], int)
    assert body["consecutive_failures"] == 1
    assert body["last_error"].startswith("http 503")
    assert body["opened_at"] is None


def test_the_api_pauses_and_resumes_with_the_change_permission(endpoint, user_in):
    viewer = user_in("viewer")
    viewer.handler._force_user.user_permissions.add(
        Permission.objects.get(codename="view_endpoint")
    )
    assert viewer.post(f"/api/v1/endpoints/{endpoint.pk}/pause/").status_code == 403
    assert state_of(endpoint) == BreakerState.CLOSED
    operator = user_in("operator")
    paused = operator.post(f"/api/v1/endpoints/{endpoint.pk}/pause/")
    assert paused.status_code == 200
    assert paused.json()["state"] == "paused"
    assert state_of(endpoint) == BreakerState.PAUSED
    assert viewer.post(f"/api/v1/endpoints/{endpoint.pk}/resume/").status_code == 403
    resumed = operator.post(f"/api/v1/endpoints/{endpoint.pk}/resume/")
    assert resumed.json()["state"] == "closed"
    assert operator.post("/api/v1/endpoints/999999/pause/").status_code == 404


def test_the_api_takes_the_breaker_settings(user_in):
    operator = user_in("operator")
    made = operator.post(
        "/api/v1/endpoints/",
        {"name": "Hook", "url": "https://example.com/h", "breaker_failures": 5,
         "breaker_probe_seconds": 30},
        format="json",
    )  # fmt: skip
    assert made.status_code == 201, made.json()
    assert made.json()["breaker_failures"] == 5
    assert made.json()["breaker_probe_seconds"] == 30
    bad = operator.patch(
        f"/api/v1/endpoints/{made.json()['id']}/", {"breaker_failures": 0}, format="json"
    )
    assert bad.status_code == 400
    assert "breaker_failures" in bad.json()
    assert Endpoint.objects.get(name="Hook").breaker_failures == 5


def test_it_prunes_attempts_older_than_an_hour(endpoint):
    EndpointAttempt.objects.create(endpoint=endpoint, at=NOW - timedelta(hours=2), ok=True,
                                   breaker_failure=False)  # fmt: skip
    EndpointAttempt.objects.create(endpoint=endpoint, at=NOW, ok=True, breaker_failure=False)
    assert breaker.prune(NOW) == 1
    assert EndpointAttempt.objects.count() == 1
