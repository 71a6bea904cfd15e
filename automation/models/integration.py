"""INTEGRATION targets and payload mappings; renames follow into the actions that name them."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from automation.constants import (
    ActionType,
)
from automation.models.workflows import Action
from leads.named import NamedModel


class UsedByActions(NamedModel):
    """An object INTEGRATION actions name in their config: renames follow into them."""

    config_key = ""

    class Meta(NamedModel.Meta):
        abstract = True

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._loaded_name = instance.__dict__.get("name")
        return instance

    def save(self, *args, **kwargs):
        from django.db import transaction

        old = getattr(self, "_loaded_name", None)
        with transaction.atomic():
            super().save(*args, **kwargs)
            if old and old != self.name:
                for action in self.actions_using(old):
                    action.config = {**action.config, self.config_key: self.name}
                    action.save(update_fields=["config"])  # bumps the rule index
        self._loaded_name = self.name

    def actions_using(self, name=None):
        return Action.objects.filter(
            type=ActionType.INTEGRATION, **{f"config__{self.config_key}": name or self.name}
        )

    def used_by(self):
        """Names of the workflows whose actions use this object."""
        return sorted(
            set(self.actions_using().values_list("action_set__workflow__name", flat=True))
        )


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

    config_key = "endpoint"

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

    config_key = "adaptor"

    fields = models.JSONField(default=list, blank=True)


# --- The send-time guard's configuration (SPEC C.3) ---------------------------------
