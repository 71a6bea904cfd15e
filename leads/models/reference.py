"""The named objects leads and workflows point at: campaigns, lists, queues, inbound numbers, templates, statuses."""

import zoneinfo

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from leads import phones
from leads.named import NamedModel


def validate_zone(value):
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"{value!r} is not an IANA time zone (e.g. America/Chicago)."
        ) from None


def validate_phone(value):
    try:
        phones.to_e164(value)
    except phones.InvalidPhone as exc:
        raise ValidationError(str(exc)) from None


class Campaign(NamedModel):
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)


class List(NamedModel):
    """A lead list. Belongs to one campaign."""

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="lists")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)


class Queue(NamedModel):
    """An inbound queue."""

    campaign = models.ForeignKey(
        Campaign, on_delete=models.SET_NULL, null=True, blank=True, related_name="queues"
    )


class InboundNumberManager(models.Manager):
    def get_by_natural_key(self, number):
        return self.get(number=number)


class InboundNumber(models.Model):
    """A DID: calls to it are routed to a queue."""

    number = models.CharField(max_length=20, unique=True, validators=[validate_phone])
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="inbound_numbers")
    description = models.CharField(max_length=200, blank=True)

    objects = InboundNumberManager()

    class Meta:
        ordering = ["number"]

    def __str__(self):
        return f"{self.number} → {self.queue}"

    def natural_key(self):
        return (self.number,)

    def save(self, *args, **kwargs):
        self.number = phones.to_e164(self.number)
        super().save(*args, **kwargs)


class EmailTemplate(NamedModel):
    """Subject and body with `{placeholders}` filled from the lead (see leads.placeholders)."""

    subject = models.CharField(max_length=200)
    body = models.TextField()

    def clean(self):
        from leads.models.custom import check_placeholders

        errors = {}
        for field in ("subject", "body"):
            try:
                check_placeholders(getattr(self, field))
            except ValidationError as exc:
                errors[field] = exc.messages
        if errors:
            raise ValidationError(errors)


class Status(models.Model):
    """A lead status; dispositions are statuses set on a call.

    The code is the primary key: it is the natural key everywhere (API,
    workflow documents) and lets the engine read `lead.status_id` without a
    query.
    """

    code = models.CharField(
        max_length=6,
        primary_key=True,
        validators=[RegexValidator(r"^[A-Z0-9]{1,6}$", "1–6 capital letters or digits.")],
    )
    name = models.CharField(max_length=100)
    final = models.BooleanField(default=False, help_text="A terminal outcome.")
    reached = models.BooleanField(default=False, help_text="A human was reached.")
    sale = models.BooleanField(default=False)
    dnc = models.BooleanField(default=False)
    callback = models.BooleanField(default=False)
    contact = models.BooleanField(default=False)
    voicemail = models.BooleanField(default=False)

    FLAGS = ("final", "reached", "sale", "dnc", "callback", "contact", "voicemail")

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "statuses"

    def __str__(self):
        return f"{self.code} – {self.name}"

    def natural_key(self):
        return (self.code,)
