"""The CRM domain (SPEC §3): what workflows react to and act on."""

import copy
import zoneinfo
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models, transaction
from django.db.models import Q
from django.utils.timezone import now
from django.utils.timezone import now as timezone_now

from leads import fields, phones
from leads.changes import about_call
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
        from leads import placeholders

        errors = {}
        for field in ("subject", "body"):
            try:
                placeholders.validate(getattr(self, field))
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


class Source(models.TextChoices):
    API = "api", "API"
    IMPORT = "import", "Import"
    AGENT = "agent", "Agent"
    WEB_FORM = "web_form", "Web form"


def snapshot(value):
    """A value as loaded, kept to tell what changed: JSON (dicts, lists) deep-copied,
    so a value changed in place still counts as changed; scalars are immutable."""
    return copy.deepcopy(value) if isinstance(value, dict | list) else value


class Lead(models.Model):
    """A person to call. Phone numbers are stored E.164.

    Saves run inside a transaction so that the workflow engine, which listens
    to post_save, writes its trigger records and pending actions atomically
    with the change (SPEC §4.2). `changed_fields()` compares against the
    values loaded from the database.
    """

    list = models.ForeignKey(List, on_delete=models.PROTECT, related_name="leads")
    status = models.ForeignKey(
        Status, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    phone_number = models.CharField(max_length=20, validators=[validate_phone])
    alt_phone = models.CharField(max_length=20, blank=True, validators=[validate_phone])
    email = models.EmailField(blank=True)
    address1 = models.CharField(max_length=200, blank=True)
    address2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=50, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, blank=True, default="US")
    timezone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_zone],
        help_text="IANA zone. Blank: derived from the phone number, else the account default.",
    )
    called_count = models.PositiveIntegerField(default=0)
    last_called_at = models.DateTimeField(null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    submitted_by = models.CharField(
        max_length=150,
        blank=True,
        help_text="A username or a source: api, import, agent, web_form.",
    )
    custom_fields = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=now, editable=False)
    modified_at = models.DateTimeField(auto_now=True)

    # Fields a workflow condition or FIELD action may name (plus custom fields).
    CONDITION_FIELDS = fields.CONDITION_FIELDS
    WRITABLE_FIELDS = fields.WRITABLE_FIELDS

    class Meta:
        indexes = [
            # Look a lead up by phone (API, DNC, inbound routing).
            models.Index(fields=["phone_number"], name="lead_phone_idx"),
            # A list's leads, newest first (admin, MOVE, relation scope).
            models.Index(fields=["list", "-created_at"], name="lead_list_created_idx"),
        ]

    def __str__(self):
        name = f"{self.first_name} {self.last_name}".strip() or "(no name)"
        return f"#{self.pk} {name} {self.phone_number}"

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._loaded = {n: snapshot(v) for n, v in zip(field_names, values, strict=True)}
        return instance

    def refresh_from_db(self, using=None, fields=None, from_queryset=None):
        super().refresh_from_db(using=using, fields=fields, from_queryset=from_queryset)
        names = fields or [f.attname for f in self._meta.concrete_fields]
        loaded = getattr(self, "_loaded", {})
        for name in names:
            attname = self._meta.get_field(name).attname
            if attname in self.__dict__:
                loaded[attname] = snapshot(self.__dict__[attname])
        self._loaded = loaded

    def loaded_value(self, attname):
        return getattr(self, "_loaded", {}).get(attname)

    def changed_fields(self):
        """Names of concrete fields whose value differs from what was loaded."""
        loaded = getattr(self, "_loaded", None)
        if loaded is None:
            return set()
        return {
            f.name
            for f in self._meta.concrete_fields
            if f.attname in loaded
            and f.name != "modified_at"
            and loaded[f.attname] != getattr(self, f.attname)
        }

    @property
    def zone_name(self):
        """The lead's IANA zone: its own, else the account default as it is now."""
        return self.timezone or settings.TIME_ZONE

    @property
    def zone(self):
        return zoneinfo.ZoneInfo(self.zone_name)

    def clean(self):
        if self.list_id is None:
            return
        try:
            self.phone_number = phones.to_e164(self.phone_number)
        except phones.InvalidPhone as exc:
            raise ValidationError({"phone_number": str(exc)}) from None

    def save_changes(self):
        """Save only the fields changed since the lead was loaded (workers' hot path).

        A smaller UPDATE than save(), and it leaves columns another transaction
        changed meanwhile alone. A lead not loaded from the database is saved whole.
        """
        if self.pk is None or getattr(self, "_loaded", None) is None:
            return self.save()
        self.normalise()
        return self.save(update_fields=[*self.changed_fields(), "modified_at"])

    def normalise(self):
        """Phone numbers in E.164 and the time zone they imply (before every save)."""
        # Normalise what is new or changed; a number stored before (e.g. by a bulk
        # import) that no longer validates must not make every later save fail.
        if self.phone_number != self.loaded_value("phone_number"):
            self.phone_number = phones.to_e164(self.phone_number)
        if self.alt_phone and self.alt_phone != self.loaded_value("alt_phone"):
            self.alt_phone = phones.to_e164(self.alt_phone)
        old_phone = self.loaded_value("phone_number")
        # A zone that was derived from the old number follows a new number; one
        # chosen explicitly stays.
        if (
            old_phone
            and old_phone != self.phone_number
            and self.timezone
            and self.timezone == self.loaded_value("timezone") == phones.zone_for(old_phone)
        ):
            self.timezone = ""
        if not self.timezone:
            self.timezone = phones.zone_for(self.phone_number)

    def save(self, *args, **kwargs):
        self.normalise()
        # Without savepoint: if the save fails the enclosing transaction fails too.
        with transaction.atomic(using=kwargs.get("using"), savepoint=False):
            super().save(*args, **kwargs)
        self._loaded = {
            f.attname: snapshot(getattr(self, f.attname)) for f in self._meta.concrete_fields
        }

    def delete(self, *args, **kwargs):
        with transaction.atomic(using=kwargs.get("using"), savepoint=False):
            return super().delete(*args, **kwargs)

    def live_call_exists(self):
        return self.calls.filter(ended_at__isnull=True).exists()


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


class DncEntry(models.Model):
    """A Do-Not-Call number or e-mail address: global (no campaign) or for one campaign.

    Exactly one of `phone_number` (E.164) and `email` (lower case): SMS, VB and
    calls are checked against numbers, EMAIL against addresses (SPEC C.3).
    """

    phone_number = models.CharField(max_length=20, blank=True, validators=[validate_phone])
    email = models.EmailField(blank=True)
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, null=True, blank=True, related_name="dnc_entries"
    )
    reason = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=50, blank=True, default="manual")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "DNC entry"
        verbose_name_plural = "DNC entries"
        constraints = [
            # Also the send-time guard's lookups: this number (or address) on the
            # global list or the lead's campaign's (automation.execution.sendtime).
            models.UniqueConstraint(
                fields=["phone_number"],
                condition=Q(campaign__isnull=True) & ~Q(phone_number=""),
                name="dnc_global_uniq",
            ),
            models.UniqueConstraint(
                fields=["phone_number", "campaign"],
                condition=~Q(phone_number=""),
                name="dnc_campaign_uniq",
            ),
            models.UniqueConstraint(
                fields=["email"],
                condition=Q(campaign__isnull=True) & ~Q(email=""),
                name="dnc_email_global_uniq",
            ),
            models.UniqueConstraint(
                fields=["email", "campaign"],
                condition=~Q(email=""),
                name="dnc_email_campaign_uniq",
            ),
            models.CheckConstraint(
                condition=(Q(phone_number="") & ~Q(email="")) | (~Q(phone_number="") & Q(email="")),
                name="dnc_phone_xor_email",
            ),
        ]

    def __str__(self):
        return f"{self.phone_number or self.email} ({self.campaign or 'global'})"

    def clean(self):
        if bool(self.phone_number) == bool(self.email):
            raise ValidationError(
                {"phone_number": "Give a phone number or an e-mail address (one, not both)."}
            )

    def save(self, *args, **kwargs):
        if self.phone_number:
            self.phone_number = phones.to_e164(self.phone_number)
        self.email = (self.email or "").strip().lower()
        super().save(*args, **kwargs)

    @classmethod
    def add(cls, phone_number="", campaign=None, reason="", source="manual", email=""):
        """Add a number or an address once (idempotent). Returns (entry, created)."""
        if phone_number:
            key = {"phone_number": phones.to_e164(phone_number), "email": ""}
        else:
            key = {"phone_number": "", "email": email.strip().lower()}
        return cls.objects.get_or_create(
            **key, campaign=campaign, defaults={"reason": reason, "source": source}
        )


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
