"""The lead: contact data, state and custom fields."""

import copy
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils.timezone import now

from leads import fields, phones
from leads.models.reference import List, Status, validate_phone, validate_zone


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
        from leads.models.custom import custom_field_errors

        # Checked when set or changed: values stored before fields were declared do
        # not block an edit of something else.
        changed = self.pk is None or self.custom_fields != self.loaded_value("custom_fields")
        problems = custom_field_errors(self.custom_fields) if changed else {}
        if problems:
            raise ValidationError(
                {"custom_fields": [f"{name}: {message}" for name, message in problems.items()]}
            )
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
