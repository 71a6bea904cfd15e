"""Endpoint health: the circuit breaker's state and the recent attempts (SPEC C.5).

The breaker's row is written only when its state changes (open, probe,
close, pause, resume): never once per request. Each request appends one
EndpointAttempt row instead (an insert, no row anyone else updates); the
dispatcher prunes those older than ATTEMPTS_KEPT. Health figures
(success rate and p95 latency of the last 5 minutes, consecutive failures,
last error) are read from them (automation.execution.breaker.health).
"""

from datetime import timedelta

from django.db import models
from django.utils import timezone

from automation.constants import BreakerState
from automation.models.integration import Endpoint

ATTEMPTS_KEPT = timedelta(hours=1)


class EndpointBreaker(models.Model):
    """The circuit breaker of one endpoint, shared by every worker through this row.

    `next_probe_at`: while open, the first moment a probe may be sent; a worker
    takes the probe with a conditional UPDATE (open → half_open, next_probe_at
    moved on), so exactly one is sent per `breaker_probe_seconds`. No row means
    closed.
    """

    endpoint = models.OneToOneField(
        Endpoint, on_delete=models.CASCADE, primary_key=True, related_name="breaker"
    )
    state = models.CharField(max_length=10, choices=BreakerState, default=BreakerState.CLOSED)
    opened_at = models.DateTimeField(null=True, blank=True)
    next_probe_at = models.DateTimeField(null=True, blank=True)
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by = models.CharField(
        max_length=150, blank=True, help_text="The operator who paused or resumed it, if any."
    )

    def __str__(self):
        return f"{self.endpoint_id}: {self.state}"


class EndpointAttempt(models.Model):
    """One request sent to an endpoint by an INTEGRATION action, and how it went."""

    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.CASCADE, related_name="attempts", db_index=False
    )
    at = models.DateTimeField()
    ok = models.BooleanField(help_text="A 2xx response.")
    # No answer, a timeout, a 5xx or a 429 (automation.execution.retry.transient): what
    # opens the breaker. Other 4xx are answers: they never do.
    breaker_failure = models.BooleanField()
    elapsed_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [
            # Health and the breaker's count: an endpoint's newest attempts.
            models.Index(fields=["endpoint", "-at"], name="attempt_endpoint_time_idx"),
            # Pruning: attempts older than ATTEMPTS_KEPT.
            models.Index(fields=["at"], name="attempt_time_idx"),
        ]

    def __str__(self):
        return f"{self.endpoint_id} {self.at:%H:%M:%S} {'ok' if self.ok else self.error}"
