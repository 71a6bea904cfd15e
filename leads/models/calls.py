"""What happens to a lead on the dialer: calls, callbacks, hopper entries."""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models import Q
from django.utils.timezone import now
from django.utils.timezone import now as timezone_now

from leads.changes import about_call
from leads.models.leads import Lead
from leads.models.reference import Campaign, InboundNumber, List, Queue, Status


class CallType(models.TextChoices):
    OUTBOUND = "OUTBOUND", "Outbound"
    INBOUND = "INBOUND", "Inbound"
    MANUAL = "MANUAL", "Manual"
    THREEWAY = "3WAY", "3-way"


class TermReason(models.TextChoices):
    CALLER = "CALLER", "Caller hung up"
    AGENT = "AGENT", "Agent hung up"
    SYSTEM = "SYSTEM", "System"
    QUEUETIMEOUT = "QUEUETIMEOUT", "Queue timeout"
    ABANDON = "ABANDON", "Abandoned"
    AFTERHOURS = "AFTERHOURS", "After hours"
    NONE = "NONE", "None"


class Call(models.Model):
    """One call in the call log. No `ended_at` = a live call.

    Record calls with `Call.record()`: it updates the lead's counters and
    status and never records the same `external_id` twice.
    """

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="calls")
    campaign = models.ForeignKey(
        Campaign, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    list = models.ForeignKey(
        List, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    queue = models.ForeignKey(
        Queue, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    inbound_number = models.ForeignKey(
        InboundNumber, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    call_type = models.CharField(max_length=10, choices=CallType, default=CallType.OUTBOUND)
    started_at = models.DateTimeField(default=now)
    ended_at = models.DateTimeField(null=True, blank=True)
    length = models.PositiveIntegerField(default=0, help_text="Seconds.")
    disposition = models.ForeignKey(
        Status, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    term_reason = models.CharField(max_length=12, choices=TermReason, blank=True)
    revenue = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    external_id = models.CharField(max_length=100, null=True, blank=True)

    class Meta:
        constraints = [
            # The dialer may deliver the same call twice: record it once.
            models.UniqueConstraint(
                fields=["external_id"],
                condition=Q(external_id__isnull=False),
                name="call_external_id_uniq",
            ),
        ]
        indexes = [
            # A lead's calls by time (lead page, REVENUE's "latest call").
            models.Index(fields=["lead", "-started_at"], name="call_lead_started_idx"),
            # Skip If Live Call: does this lead have a call without an end?
            models.Index(fields=["lead"], condition=Q(ended_at__isnull=True), name="call_live_idx"),
        ]

    def __str__(self):
        return f"Call #{self.pk} lead {self.lead_id} {self.call_type} {self.disposition_id or '-'}"

    @property
    def is_live(self):
        return self.ended_at is None

    @classmethod
    def record(cls, **fields):
        """Record a call and update its lead. Returns (call, created).

        1. If `external_id` was seen before, return that call untouched.
        2. Fill campaign/list from the lead where not given.
        3. Insert the call and, in the same transaction, bump the lead's
           called count and last called time and set its status to the
           disposition (which fires the workflow engine's occurrences).
        """
        external_id = fields.get("external_id") or None
        fields["external_id"] = external_id
        with transaction.atomic():
            if external_id:
                existing = cls.objects.filter(external_id=external_id).first()
                if existing:
                    return existing, False
            call = cls(**fields)
            if call.list_id is None:
                call.list_id = call.lead.list_id
            if call.campaign_id is None and call.list_id:
                call.campaign_id = List.objects.values_list("campaign_id", flat=True).get(
                    pk=call.list_id
                )
            try:
                with transaction.atomic():
                    call.save()
            except Exception:
                # Lost a race on the same external_id: the other insert wins.
                if external_id and cls.objects.filter(external_id=external_id).exists():
                    return cls.objects.get(external_id=external_id), False
                raise
            lead = Lead.objects.select_for_update().get(pk=call.lead_id)
            lead.called_count += 1
            lead.last_called_at = call.started_at
            if call.disposition_id:
                lead.status_id = call.disposition_id
            with about_call(call):
                lead.save()
        return call, True

    def set_disposition(self, status):
        """Disposition a call after the fact. A change of an existing one is a redisposition."""
        with transaction.atomic():
            previous = self.disposition_id
            self.disposition = status
            self.save()
            lead = Lead.objects.select_for_update().get(pk=self.lead_id)
            lead.status = status
            with about_call(self, redisposed=True, previous_disposition=previous):
                lead.save()
        return previous


class CallbackRecipient(models.TextChoices):
    SYSTEM = "system", "System"
    PERSONAL = "personal", "Personal"


class CallbackState(models.TextChoices):
    PENDING = "PENDING", "Pending"
    COMPLETED = "COMPLETED", "Completed"
    DISMISSED = "DISMISSED", "Dismissed"
    MISSED = "MISSED", "Missed"


class Callback(models.Model):
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="callbacks")
    due_at = models.DateTimeField()
    recipient = models.CharField(
        max_length=10, choices=CallbackRecipient, default=CallbackRecipient.SYSTEM
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    note = models.CharField(max_length=500, blank=True)
    state = models.CharField(max_length=10, choices=CallbackState, default=CallbackState.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # A lead's pending callbacks (CALLBACK_UPDATE, lead page).
            models.Index(fields=["lead", "state"], name="callback_lead_state_idx"),
        ]

    def __str__(self):
        return f"Callback #{self.pk} lead {self.lead_id} at {self.due_at:%Y-%m-%d %H:%M} ({self.state})"

    def clean(self):
        if self.recipient == CallbackRecipient.PERSONAL and self.agent_id is None:
            raise ValidationError({"agent": "A personal callback needs an agent."})

    def save(self, *args, **kwargs):
        with transaction.atomic(savepoint=False):
            super().save(*args, **kwargs)


class HopperState(models.TextChoices):
    WAITING = "WAITING", "Waiting"
    DIALED = "DIALED", "Dialed"
    EXPIRED = "EXPIRED", "Expired"
    REMOVED = "REMOVED", "Removed"


class HopperEntry(models.Model):
    """A lead queued for dialing in a campaign."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="hopper_entries")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    priority = models.PositiveSmallIntegerField(
        default=50, validators=[MinValueValidator(0), MaxValueValidator(99)]
    )
    source = models.CharField(max_length=10, default="API", help_text="WA = placed by a workflow.")
    inserted_at = models.DateTimeField(default=now)
    expires_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=HopperState, default=HopperState.WAITING)

    class Meta:
        verbose_name_plural = "hopper entries"
        indexes = [
            # The expiry sweep: waiting entries past their expiry time.
            models.Index(
                fields=["expires_at"],
                condition=Q(state="WAITING"),
                name="hopper_waiting_expiry_idx",
            ),
        ]

    def __str__(self):
        return f"Hopper #{self.pk} lead {self.lead_id} p{self.priority} {self.state}"

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._loaded_state = instance.__dict__.get("state")
        return instance

    def save(self, *args, **kwargs):
        with transaction.atomic(savepoint=False):
            super().save(*args, **kwargs)
        self._loaded_state = self.state

    @property
    def state_when_loaded(self):
        """The state it had when read or last saved (during post_save: before this save)."""
        return getattr(self, "_loaded_state", None)

    @classmethod
    def expire_due(cls, now=None):
        """Mark waiting entries past their expiry EXPIRED (each fires Hopper Expired)."""
        now = now or timezone_now()
        expired = 0
        ids = list(
            cls.objects.filter(state=HopperState.WAITING, expires_at__lte=now).values_list(
                "pk", flat=True
            )[:1000]
        )
        for pk in ids:
            with transaction.atomic():
                entry = (
                    cls.objects.select_for_update(skip_locked=True)
                    .filter(pk=pk, state=HopperState.WAITING)
                    .first()
                )
                if entry:
                    entry.state = HopperState.EXPIRED
                    entry.save()
                    expired += 1
        return expired
