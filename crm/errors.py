"""Logged, not leaked: what happens to an unexpected exception in a request.

1. `RequestIdMiddleware` (first in MIDDLEWARE) gives every request an id: the
   caller's `X-Request-ID` when it is a plain token (letters, digits, `._-`,
   up to 64), else a new one. It is sent back in the `X-Request-ID` header and
   stamped on every log line written while the request runs (`RequestIdFilter`,
   `[request_id]` in the log format).
2. An exception no view handled becomes Django's plain 500 page (no
   traceback: DEBUG is off in production); Django logs the traceback on
   `django.request`, with the request id.
3. `UNHANDLED` (`crm_unhandled_exceptions_total{view="…"}`, in
   prometheus_client's default REGISTRY, which `/metrics` serves) counts it
   by view name — never by path, so the label set stays small.
"""

import contextvars
import logging
import re
import uuid

from django.core.signals import got_request_exception
from django.dispatch import receiver
from prometheus_client import Counter

UNHANDLED = Counter(
    "crm_unhandled_exceptions_total",
    "Requests that raised an exception no view handled (answered 500), by view.",
    ["view"],
)

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}\Z")
current_request_id = contextvars.ContextVar("request_id", default="-")


def view_name(request):
    """The view's URL name (`api:lead-list`, `admin:leads_lead_changelist`), or 'unresolved'."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unresolved"
    return match.view_name or getattr(match, "_func_path", "") or "unnamed"


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.META.get("HTTP_X_REQUEST_ID", "")
        request.request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        token = current_request_id.set(request.request_id)
        try:
            response = self.get_response(request)
        finally:
            current_request_id.reset(token)
        response[REQUEST_ID_HEADER] = request.request_id
        return response


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record ('-' outside a request)."""

    def filter(self, record):
        record.request_id = current_request_id.get()
        return True


@receiver(got_request_exception, dispatch_uid="crm.errors.count_unhandled")
def count_unhandled(sender, request=None, **kwargs):
    """Sent by Django for exactly the exceptions that become a 500."""
    UNHANDLED.labels(view=view_name(request) if request is not None else "unresolved").inc()


def unhandled_total():
    """All unhandled exceptions counted so far in this process (for tests and checks)."""
    return sum(
        sample.value
        for metric in UNHANDLED.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    )
