"""Logged, not leaked: an unexpected exception is a plain 500, logged with the request id
and counted by view (crm.errors)."""

import logging

import pytest
from django.http import HttpResponse
from django.test import Client
from django.urls import include, path

from crm import errors

pytestmark = pytest.mark.urls("tests.test_errors")


def boom(request):
    raise RuntimeError("the secret plan S3CR3T")


def fine(request):
    logging.getLogger("tests.fine").warning("inside the view")
    return HttpResponse("ok")


# This module is also the URLconf of its tests.
urlpatterns = [
    path("boom/", boom, name="boom"),
    path("fine/", fine, name="fine"),
    path("", include("crm.urls")),
]


def counted(view):
    return errors.UNHANDLED.labels(view=view)._value.get()


def test_it_answers_a_plain_500_without_the_traceback(db, caplog, settings):
    settings.DEBUG = False
    before = counted("boom")
    response = Client(raise_request_exception=False).get("/boom/", HTTP_X_REQUEST_ID="req-42")

    assert response.status_code == 500
    assert b"S3CR3T" not in response.content and b"Traceback" not in response.content
    assert response["X-Request-ID"] == "req-42"
    assert counted("boom") == before + 1
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.request_id == "req-42"  # the log line carries the request id
    assert record.exc_info is not None  # and the traceback, in the log only


def test_it_gives_every_request_an_id_and_stamps_its_log_lines(db, caplog):
    response = Client().get("/fine/", HTTP_X_REQUEST_ID="bad id\nwith a newline")

    request_id = response["X-Request-ID"]
    assert len(request_id) == 32 and request_id.isalnum()  # a new one, not the caller's
    (record,) = [r for r in caplog.records if r.name == "tests.fine"]
    assert record.request_id == request_id


def test_handled_errors_are_not_counted(db):
    before = errors.unhandled_total()
    client = Client(raise_request_exception=False)
    for url in ("/nowhere/", "/api/v1/leads/", "/api/v1/workflows/backtest/"):
        assert client.get(url).status_code < 500
    assert errors.unhandled_total() == before


@pytest.mark.django_db  # the registry also serves /metrics' collector, which reads the log
def test_the_counter_is_in_the_default_registry():
    from prometheus_client import REGISTRY

    names = {metric.name for metric in REGISTRY.collect()}
    assert "crm_unhandled_exceptions" in names
