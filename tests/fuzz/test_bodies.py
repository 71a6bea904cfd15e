"""Hostile request bodies: leads/, calls/, dry-run, flush, endpoints/, adaptors/ and their tests.

Each target's valid body is mutated (tests/fuzz/hostile.py): never a 5xx,
every 400 names a key, and a refused request changes nothing stored (a dry
run and an endpoint test never change anything, even when answered 200).
"""

import time

from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.conftest import names_a_path, snapshot
from tests.fuzz.hostile import mutated, to_json

BODIES = 700

FUZZ = settings(
    max_examples=BODIES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def targets(world):
    """(name, method, url, valid body, changes nothing even when accepted)."""
    lead, workflow = world.leads[0], world.workflow
    return [
        (
            "leads/",
            "post",
            "/api/v1/leads/",
            {
                "list": world.list.pk,
                "phone_number": "+13105550142",
                "first_name": "Grace",
                "status": "NEW",
                "timezone": "America/Los_Angeles",
                "custom_fields": {"plan": "gold", "score": 7},
            },
            False,
        ),
        ("leads/ (update)", "patch", f"/api/v1/leads/{lead.pk}/", {"state": "NV"}, False),
        (
            "calls/",
            "post",
            "/api/v1/calls/",
            {
                "lead": lead.pk,
                "call_type": "OUTBOUND",
                "disposition": "SALE",
                "started_at": "2026-11-30T10:00:00Z",
                "ended_at": "2026-11-30T10:05:00Z",
                "term_reason": "CALLER",
                "revenue": "10.00",
                "external_id": "fuzz-1",
            },
            False,
        ),
        (
            "dry-run",
            "post",
            f"/api/v1/workflows/{workflow.pk}/dry-run/",
            {
                "lead": lead.pk,
                "facts": {
                    "disposition": "SALE",
                    "call": {"call_type": "OUTBOUND", "term_reason": "CALLER"},
                    "changed_fields": ["state"],
                    "chain": [1, 2],
                    "lead_action": "save",
                },
            },
            True,
        ),
        (
            "flush",
            "post",
            "/api/v1/workflow-logs/flush/",
            {"created_after": "2020-01-01T00:00:00Z", "workflow": workflow.pk, "state": "pending"},
            False,
        ),
        ("flush (ids)", "post", "/api/v1/workflow-logs/flush/", {"ids": [1, 2]}, False),
        (
            "endpoints/",
            "post",
            "/api/v1/endpoints/",
            {
                "name": "Other CRM",
                "url": "http://127.0.0.1:9/other",
                "method": "POST",
                "auth_query": "api_key=abcd",
                "headers": {"X-Api-Key": "kkkk"},
                "body_format": "json",
                "response_format": "json",
                "success_key": "ok",
                "success_value": "true",
                "timeout_seconds": 2,
                "max_attempts": 1,
                "secret": "ssss",
                "active": True,
            },
            False,
        ),
        (
            "adaptors/",
            "post",
            "/api/v1/adaptors/",
            {
                "name": "Other payload",
                "fields": [
                    {"source": "first_name", "to": "fname,first", "default": "x"},
                    {"source": "created_at", "to": "created", "date_format": "%Y-%m-%d"},
                ],
            },
            False,
        ),
        (
            "endpoints/ test",
            "post",
            f"/api/v1/endpoints/{world.endpoint.pk}/test/",
            {"lead": lead.pk, "adaptor": "Sale payload", "send": False},
            True,
        ),
        (
            "adaptors/ test",
            "post",
            f"/api/v1/adaptors/{world.adaptor.pk}/test/",
            {"lead": lead.pk},
            True,
        ),
    ]


def test_hostile_bodies_get_a_400_naming_the_key_and_change_nothing(
    world, tally, no_unhandled_exceptions
):
    api, cases = world.api, targets(world)
    state = {"before": snapshot(), "sent": 0}
    started = time.monotonic()

    @FUZZ
    @given(data=st.data())
    def send(data):
        name, method, url, body, read_only = data.draw(st.sampled_from(cases))
        body = data.draw(mutated(body, keys=lambda doc, path: ["unknown", "id", "lead"]))
        if isinstance(body, dict) and body.get("send") is True:
            body["send"] = False  # a real send is tested with a real server elsewhere
        response = getattr(api, method)(url, to_json(body), "application/json")
        state["sent"] += 1
        tally.add(f"bodies: {name}", response.status_code)
        assert response.status_code < 500, (name, to_json(body)[:1000])
        if response.status_code >= 400 or read_only:
            if response.status_code >= 400:
                assert response.status_code in (400, 404, 409, 413), (name, response.content[:300])
                if response.status_code == 400:
                    assert names_a_path(response), (name, response.content[:300])
            assert snapshot() == state["before"], f"{name}: {response.status_code} changed data"
        else:
            state["before"] = snapshot()

    send()
    tally.seconds["bodies"] += time.monotonic() - started
    assert state["sent"] >= BODIES


def test_the_issues_bodies(world, tally, no_unhandled_exceptions):
    api = world.api
    before = snapshot()
    cases = [
        ("/api/v1/workflow-logs/flush/", '{"created_after": 0}', "created_after"),
        ("/api/v1/workflow-logs/flush/", '{"created_after": "9999-12-31T23:59:59-14:00"}', "created_after"),
        ("/api/v1/workflow-logs/flush/", '{"lead": "²"}', "lead"),
        ("/api/v1/workflow-logs/flush/", '{"ids": [99999999999999999999999]}', "ids"),
        ("/api/v1/leads/", '{"first_name": "a\\u0000b"}', "first_name"),
        ("/api/v1/leads/", '{"custom_fields": {"x": "\\ud800"}}', "custom_fields.x"),
        ("/api/v1/leads/", '{"status": "A\\u0000"}', "status"),
        ("/api/v1/calls/", '{"disposition": "\\u0000"}', "disposition"),
        ("/api/v1/leads/", '{"custom_fields": ' + "[" * 5000 + "]" * 5000 + "}", "body"),
        ("/api/v1/leads/", "[" * 100_000, "body"),
        ("/api/v1/leads/", '{"first_name": NaN}', "body"),
        (f"/api/v1/workflows/{world.workflow.pk}/dry-run/", '{"lead": "²"}', "lead"),
        (f"/api/v1/workflows/{world.workflow.pk}/dry-run/", '{"lead": 1, "facts": {"call": {"x": "\\u0000"}}}', "facts.call.x"),
    ]  # fmt: skip
    for url, body, key in cases:
        response = api.post(url, body, "application/json")
        tally.add("issue #18 bodies", response.status_code)
        assert response.status_code == 400, (url, body[:80], response.content[:300])
        assert key in response.json(), (url, body[:80], response.json())
    assert snapshot() == before


def test_a_nul_in_the_token_is_refused_not_a_500(world, tally):
    for header in ("Token abc\x00def", "Token \x00", "Token " + "x" * 10_000, "Token ²"):
        response = world.api.get("/api/v1/leads/", HTTP_AUTHORIZATION=header)
        tally.add("hostile Authorization", response.status_code)
        assert response.status_code == 401, header[:20]


def test_a_non_numeric_workflow_id_is_a_404(world):
    for path in ("nonsense", "²", "a%00b", "99999999999999999999999"):
        response = world.api.get(f"/api/v1/workflows/{path}/")
        assert response.status_code == 404, path
    # `workflows/backtest/` is a route of its own (POST: SPEC C.6), not an id.
    assert world.api.get("/api/v1/workflows/backtest/").status_code == 405
    from crm.urls import router

    for prefix, _, _ in router.registry:  # every detail route, every hostile id
        for path in ("nonsense", "%C2%B2", "a%00b", "99999999999999999999999", "-1", "%ED%A0%80"):
            response = world.api.get(f"/api/v1/{prefix}/{path}/")
            assert response.status_code == 404, (prefix, path, response.status_code)


def test_a_nul_in_the_session_cookie_is_no_session(world, tally):
    client = Client(raise_request_exception=False)
    client.cookies["sessionid"] = "abcdefgh\x00ijkl"
    for url in ("/admin/", "/api/v1/leads/"):
        response = client.get(url)
        tally.add("hostile cookies", response.status_code)
        assert response.status_code in (302, 401, 403), url
