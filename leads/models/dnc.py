"""The Do-Not-Call list."""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from leads import phones
from leads.models.reference import Campaign, validate_phone


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
