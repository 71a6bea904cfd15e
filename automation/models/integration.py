"""INTEGRATION targets and payload mappings (actions refer to them by id)."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from leads.named import NamedModel


class UsedByActions(NamedModel):
    """An object INTEGRATION actions refer to (by id: a rename breaks nothing)."""

    class Meta(NamedModel.Meta):
        abstract = True

    def used_by(self):
        """Names of the workflows that use this object (automation.models.references)."""
        return sorted(set(self.workflow_uses.values_list("workflow__name", flat=True)))


class HttpMethod(models.TextChoices):
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    GET = "GET"
    DELETE = "DELETE"


class BodyFormat(models.TextChoices):
    FORM = "form", "Form (application/x-www-form-urlencoded)"
    JSON = "json", "JSON"


class ResponseFormat(models.TextChoices):
    JSON = "json", "JSON"
    XML = "xml", "XML"
    TEXT = "text", "Text"


class Endpoint(UsedByActions):
    """Where and how an INTEGRATION action sends a lead."""

    url = models.URLField(max_length=1000)
    method = models.CharField(max_length=6, choices=HttpMethod, default=HttpMethod.POST)
    auth_query = models.CharField(
        max_length=500,
        blank=True,
        help_text="Query-string auth appended to the URL, e.g. api_key=…",
    )
    headers = models.JSONField(default=dict, blank=True, help_text="Extra headers: {name: value}.")
    body_format = models.CharField(max_length=4, choices=BodyFormat, default=BodyFormat.JSON)
    response_format = models.CharField(
        max_length=4, choices=ResponseFormat, default=ResponseFormat.JSON
    )
    success_key = models.CharField(
        max_length=200,
        blank=True,
        help_text="Response key (dotted path) that must hold the success value.",
    )
    success_value = models.CharField(max_length=200, blank=True)
    timeout_seconds = models.PositiveSmallIntegerField(
        default=10, validators=[MinValueValidator(1), MaxValueValidator(120)]
    )
    max_attempts = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    secret = models.CharField(
        max_length=200, blank=True, help_text="HMAC-SHA256 signing secret (X-Signature header)."
    )
    secret_headers = models.JSONField(
        default=list,
        blank=True,
        help_text="Names of further headers whose values are secret (masked in logs and "
        'previews), e.g. ["X-Partner-Pin"]. Authorization, Cookie and headers whose name '
        "contains key, token, secret, password, auth or signature always are.",
    )
    active = models.BooleanField(default=True)
    # The circuit breaker (SPEC C.5; its state lives in EndpointBreaker).
    breaker_failures = models.PositiveSmallIntegerField(
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text="Consecutive failed attempts (no answer, timeout, 5xx, 429) that open the "
        "circuit breaker: nothing is sent then but one probe at a time.",
    )
    breaker_probe_seconds = models.PositiveIntegerField(
        default=60,
        validators=[MinValueValidator(1), MaxValueValidator(86400)],
        help_text="While the breaker is open, one probe request every this many seconds; "
        "a probe that succeeds closes it.",
    )


class Adaptor(UsedByActions):
    """What an INTEGRATION action sends: source fields mapped to destination keys.

    `fields` is a list of {"source", "to", "default", "date_format"}; `to` may
    name several keys separated by commas.
    """

    fields = models.JSONField(default=list, blank=True)


# --- The send-time guard's configuration (SPEC C.3) ---------------------------------
