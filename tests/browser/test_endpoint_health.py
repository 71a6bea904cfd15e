"""In a real browser: an endpoint's page shows its circuit breaker (state, success
rate, p95 latency, last error), and its Pause and Resume buttons switch it."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from automation.constants import BreakerState
from automation.execution import breaker
from automation.models import Endpoint, EndpointAttempt

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def boss(transactional_db):
    return User.objects.create_superuser("boss", "boss@example.com", "pw-boss-1")


def log_in(page, live_server):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "pw-boss-1")
    page.click("input[type=submit]")
    page.wait_for_selector("#content-main")


def test_an_operator_sees_an_open_endpoint_and_pauses_and_resumes_it(
    page, live_server, boss, shoot
):
    endpoint = Endpoint.objects.create(
        name="Partner CRM", url="https://partner.example.com/hook", breaker_failures=3
    )
    now = timezone.now()
    EndpointAttempt.objects.create(
        endpoint=endpoint, at=now - timedelta(seconds=50), ok=True, breaker_failure=False,
        elapsed_ms=120, status_code=200,
    )  # fmt: skip
    for i in range(3):
        EndpointAttempt.objects.create(
            endpoint=endpoint, at=now - timedelta(seconds=30 - i), ok=False, breaker_failure=True,
            elapsed_ms=900 + i, status_code=503, error="http 503: down for maintenance",
        )  # fmt: skip
    assert breaker.failed(endpoint, now)
    errors = []  # console errors and failed requests (the browser's own favicon.ico aside)

    def console(message):
        if message.type == "error" and not message.location["url"].endswith("/favicon.ico"):
            errors.append(message.text)

    page.on("console", console)
    page.on("response", lambda r: r.status >= 400 and errors.append(f"{r.status} {r.url}"))
    log_in(page, live_server)

    page.goto(f"{live_server.url}/admin/automation/endpoint/{endpoint.pk}/change/")
    panel = page.locator("#endpoint-health")
    assert panel.get_attribute("data-state") == "open"
    assert "Open (failing: only probes)" in panel.locator(".breaker-state").inner_text()
    assert panel.locator(".success-rate").inner_text() == "25.0 %"
    assert panel.locator(".p95").inner_text() == "902 ms"
    assert panel.locator(".consecutive-failures").inner_text().startswith("3")
    assert "http 503: down for maintenance" in panel.locator(".last-error").inner_text()
    # The settings that drive it are on the same page.
    assert page.input_value("#id_breaker_failures") == "3"
    assert page.input_value("#id_breaker_probe_seconds") == "60"
    shoot("endpoint-01-open")

    page.click("button.breaker-pause")
    page.wait_for_selector(".messagelist .success")
    assert page.locator("#endpoint-health").get_attribute("data-state") == "paused"
    assert breaker.health(endpoint)["state"] == BreakerState.PAUSED
    assert page.locator("button.breaker-pause").count() == 0
    shoot("endpoint-02-paused")

    page.click("button.breaker-resume")
    page.wait_for_selector(".messagelist .success")
    assert page.locator("#endpoint-health").get_attribute("data-state") == "closed"
    assert breaker.health(endpoint)["state"] == BreakerState.CLOSED
    assert page.locator("button.breaker-resume").count() == 0
    # The endpoint's own settings were not touched by the buttons.
    assert Endpoint.objects.get(pk=endpoint.pk).url == "https://partner.example.com/hook"
    assert errors == []
