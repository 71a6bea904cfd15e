"""The send-time guard's settings: calling rules and contact policies (SPEC C.3)."""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from leads.models import (
    Campaign,
    validate_zone,
)


class CallingRule(models.Model):
    """When outreach may reach leads of one US state or one time zone (SPEC C.3).

    `hours`: weekday "0" (Monday) … "6" → ["HH:MM", "HH:MM"] local, end
    excluded, or null for no contact that day; a weekday left out is not
    limited by the rule. `blocked_dates`: local ISO dates with no contact.
    Exactly one of `state` (matched against the lead's state) and `timezone`
    (against the lead's zone). Read by automation.execution.sendtime, applied by the
    pure automation.engine.guard.
    """

    name = models.CharField(max_length=200, blank=True)
    state = models.CharField(
        max_length=2, blank=True, help_text="US state code (e.g. TX), matched against the lead's."
    )
    timezone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_zone],
        help_text="IANA zone (e.g. America/Chicago), matched against the lead's zone.",
    )
    hours = models.JSONField(
        default=dict,
        blank=True,
        help_text='Weekday "0" (Monday) … "6" → ["HH:MM", "HH:MM"] local (end excluded), '
        "or null for no contact that day. A weekday left out is not limited.",
    )
    blocked_dates = models.JSONField(
        default=list, blank=True, help_text="Local dates with no contact, e.g. 2026-12-25."
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["state", "timezone", "name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(state="") & ~Q(timezone="")) | (~Q(state="") & Q(timezone="")),
                name="callingrule_state_xor_timezone",
            ),
        ]

    def __str__(self):
        return self.name or f"Calling rule for {self.scope}"

    @property
    def scope(self):
        return f"state {self.state}" if self.state else f"time zone {self.timezone}"

    def clean(self):
        from automation.engine import guard

        errors = {}
        self.state = (self.state or "").strip().upper()
        self.timezone = (self.timezone or "").strip()
        if bool(self.state) == bool(self.timezone):
            errors["state"] = "Give exactly one of a state or a time zone."
        elif self.state and not (len(self.state) == 2 and self.state.isalpha()):
            errors["state"] = "A two-letter US state code, e.g. TX."
        for name, check in (("hours", guard.parse_hours), ("blocked_dates", guard.parse_dates)):
            try:
                check(getattr(self, name))
            except ValueError as exc:
                errors[name] = str(exc)
        if errors:
            raise ValidationError(errors)

    def as_rule(self):
        """The plain value automation.engine.guard reads."""
        from automation.engine import guard

        return guard.CallingRule(
            name=self.name,
            state=self.state,
            timezone=self.timezone,
            hours=guard.parse_hours(self.hours),
            blocked_dates=guard.parse_dates(self.blocked_dates),
        )


class Channel(models.TextChoices):
    SMS = "sms", "SMS"
    VB = "vb", "Voice broadcast"
    EMAIL = "email", "Email"
    CALL = "call", "Call (Place Call and System Callback)"


class OverBudget(models.TextChoices):
    DEFER = "defer", "Defer until the budget frees up"
    SKIP = "skip", "Skip"


class ContactPolicy(models.Model):
    """How often one lead may be contacted on one channel (SPEC C.3 contact budget).

    The policy of the lead's campaign applies, else the default (no campaign);
    no policy, no limit. Counted over succeeded entries of every workflow in
    rolling 24 hours and 7 days.
    """

    campaign = models.ForeignKey(
        Campaign,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="contact_policies",
        help_text="Empty: the default policy, for leads of campaigns without their own.",
    )
    channel = models.CharField(max_length=5, choices=Channel)
    max_per_24h = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty: no limit per rolling 24 hours."
    )
    max_per_7d = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty: no limit per rolling 7 days."
    )
    over_budget = models.CharField(max_length=5, choices=OverBudget, default=OverBudget.DEFER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "contact policies"
        ordering = ["campaign__name", "channel", "id"]
        constraints = [
            # One policy per campaign and channel, and one default per channel.
            models.UniqueConstraint(
                fields=["campaign", "channel"], name="contactpolicy_campaign_channel_uniq"
            ),
            models.UniqueConstraint(
                fields=["channel"],
                condition=Q(campaign__isnull=True),
                name="contactpolicy_default_channel_uniq",
            ),
        ]

    def __str__(self):
        limits = ", ".join(
            f"{n} per {span}"
            for n, span in ((self.max_per_24h, "24 h"), (self.max_per_7d, "7 days"))
            if n is not None
        )
        return f"{self.campaign or 'Default'} · {self.channel}: {limits or 'no limit'}"

    def clean(self):
        errors = {}
        if (
            self.channel
            and ContactPolicy.objects.filter(campaign_id=self.campaign_id, channel=self.channel)
            .exclude(pk=self.pk)
            .exists()
        ):
            errors["channel"] = (
                f"There is already a {'default' if self.campaign_id is None else 'campaign'} "
                f"policy for {self.channel}."
            )
        if errors:
            raise ValidationError(errors)

    def as_policy(self):
        from automation.engine import guard

        return guard.Policy(
            channel=self.channel,
            scope=f'campaign "{self.campaign}"' if self.campaign_id else "default",
            max_per_24h=self.max_per_24h,
            max_per_7d=self.max_per_7d,
            over_budget=self.over_budget,
        )
