"""Workflows, their conditions and actions, and the rows that record every run.

Configuration: Workflow → EventCondition*, ActionSet* → Action*.
Records: Trigger (one per workflow whose conditions matched an occurrence,
with its outcome), LogEntry (one per scheduled action: the pending-work queue
and the log at once), Notification (loop conflicts), Endpoint/Adaptor
(INTEGRATION targets and payload mappings).
"""

import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from automation.constants import (
    OUTREACH_CHANNELS,
    ActionType,
    DelayMode,
    Direction,
    EntryState,
    EventType,
    HeartbeatRole,
    Reenrollment,
    Relation,
    RelationMode,
    StopIf,
    TriggerOutcome,
    Window,
)
from leads.models import (
    Campaign,
    EmailTemplate,
    InboundNumber,
    Lead,
    List,
    Queue,
    validate_zone,
)
from leads.named import NamedManager, NamedModel


class Workflow(models.Model):
    """Settings of a rule (SPEC §4.1). Conditions and action sets hang off it."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True)
    disabled_reason = models.TextField(
        blank=True, help_text="Set by the system when it turned the workflow off (loop detected)."
    )
    relation = models.CharField(max_length=20, choices=Relation, default=Relation.CAMPAIGN)
    relation_mode = models.CharField(
        max_length=12, choices=RelationMode, default=RelationMode.WITHIN
    )
    campaigns = models.ManyToManyField(Campaign, blank=True, related_name="+")
    lists = models.ManyToManyField(List, blank=True, related_name="+")
    queues = models.ManyToManyField(Queue, blank=True, related_name="+")
    inbound_numbers = models.ManyToManyField(InboundNumber, blank=True, related_name="+")
    email_templates = models.ManyToManyField(EmailTemplate, blank=True, related_name="+")
    all_campaigns = models.BooleanField(
        default=False, help_text="Yes: applies to every campaign regardless of the relation."
    )
    stop_if = models.CharField(max_length=20, choices=StopIf, default=StopIf.NEVER)
    stop_filter = models.JSONField(
        default=list, blank=True, help_text="Lead-Fields conditions, all must match."
    )
    skip_if_pending = models.BooleanField(
        default=False,
        help_text="Do not fire for a lead that still has unexecuted actions of this workflow.",
    )
    schedule_enabled = models.BooleanField(default=False)
    schedule_window = models.CharField(max_length=5, choices=Window, default=Window.H24)
    schedule_days = models.JSONField(
        default=list, blank=True, help_text="0 = Monday … 6 = Sunday. Empty = every day."
    )
    perform_action_on = models.PositiveSmallIntegerField(
        default=100,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Percent of qualifying leads (sticky per lead).",
    )
    reenrollment = models.CharField(
        max_length=14,
        choices=Reenrollment,
        default=Reenrollment.ALWAYS,
        help_text="May a lead fire this workflow again? Held back: outcome 'already enrolled'.",
    )
    reenroll_after_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text="With 'once every N days': days after its last firing before a lead may again.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)
    # A new token whenever what the rule index compiles of it changes (its
    # settings, conditions, action sets, actions, relations): a process
    # compiles again only the workflows whose token moved (automation.engine.rules).
    rules_token = models.UUIDField(default=uuid.uuid4, editable=False)

    objects = NamedManager()

    RELATION_FIELDS = {
        Relation.CAMPAIGN: "campaigns",
        Relation.LIST: "lists",
        Relation.QUEUE: "queues",
        Relation.INBOUND_NUMBER: "inbound_numbers",
        Relation.EMAIL_TEMPLATE: "email_templates",
    }

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def natural_key(self):
        return (self.name,)

    def relation_objects(self):
        return getattr(self, self.RELATION_FIELDS[self.relation]).all()

    def reenable(self):
        """An operator turns a loop-disabled workflow back on. No counter to reset: loop
        protection counts iterations per causal chain and within the last hour (SPEC C.4)."""
        self.active = True
        self.disabled_reason = ""
        self.save()
        self.notifications.filter(acknowledged_at__isnull=True).update(
            acknowledged_at=timezone.now()
        )


class EventCondition(models.Model):
    """One event condition; `config` is validated by its type's schema (automation.engine.events)."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=20, choices=EventType)
    config = models.JSONField(default=dict, blank=True)
    active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["workflow", "position", "id"]

    def __str__(self):
        return f"{self.get_type_display()} {self.config}"


class ActionSet(models.Model):
    """Actions that share one timing: a delay and a window (SPEC §4.4)."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="action_sets")
    position = models.PositiveSmallIntegerField(default=0)
    delay_mode = models.CharField(max_length=20, choices=DelayMode, default=DelayMode.IMMEDIATE)
    delay_days = models.PositiveIntegerField(default=0)
    delay_hours = models.PositiveIntegerField(default=0)
    delay_minutes = models.PositiveIntegerField(default=0)
    delay_field = models.CharField(
        max_length=100,
        blank=True,
        help_text="Lead date field (lead_field mode): a lead or custom field.",
    )
    delay_direction = models.CharField(max_length=6, choices=Direction, default=Direction.AFTER)
    window = models.CharField(max_length=5, choices=Window, default=Window.H24)

    class Meta:
        ordering = ["workflow", "position", "id"]

    def __str__(self):
        return f"{self.workflow} · set {self.position + 1}"


class Action(models.Model):
    """One action; `config` is validated by its type's executor (automation.execution.actions)."""

    action_set = models.ForeignKey(ActionSet, on_delete=models.CASCADE, related_name="actions")
    type = models.CharField(
        max_length=20,
        choices=ActionType,
        help_text="Integration is the Convoso Connect action: it sends the lead to an Endpoint.",
    )
    config = models.JSONField(default=dict, blank=True)
    active = models.BooleanField(default=True)
    skip_if_live_call = models.BooleanField(default=False)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["action_set", "position", "id"]

    def __str__(self):
        return f"{self.get_type_display()} {self.config}"


class Trigger(models.Model):
    """A workflow whose conditions matched an occurrence, and what became of it."""

    # No single-column indexes: trigger_workflow_time_idx / trigger_lead_time_idx lead with these.
    # No database constraint either: its check at commit locks the workflow's row
    # (FOR KEY SHARE) for every trigger, so every save firing a popular workflow
    # would lock the same row (~0.08 ms a save firing ten, and multixacts when
    # workers do it at once). Django still deletes a workflow's triggers and
    # entries with it; what a save wrote from a stale rule index just as the
    # workflow was deleted goes too: by a task queued when the deletion commits
    # (automation.execution.tasks.purge_deleted_workflow), and by the runner if due first.
    workflow = models.ForeignKey(
        Workflow,
        on_delete=models.CASCADE,
        db_constraint=False,
        related_name="triggers",
        db_index=False,
    )
    lead = models.ForeignKey(
        Lead, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", db_index=False
    )
    occurred_at = models.DateTimeField(default=timezone.now)
    occurrence = models.JSONField(default=dict, help_text="What happened: the occurrence's facts.")
    outcome = models.CharField(max_length=20, choices=TriggerOutcome)
    reason = models.CharField(max_length=300, blank=True)
    chain = models.JSONField(
        default=list,
        blank=True,
        help_text="The workflow ids of the triggers whose actions caused this occurrence, "
        "in order (a workflow repeating itself appears once per repetition).",
    )
    # SPEC C.4: this trigger's iteration number in its chain (the chain held its
    # workflow k >= 2 times: iteration k - 1); 0 when it is not an iteration.
    loop_iteration = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            # Trigger list filtered by workflow (+ date), newest first.
            models.Index(fields=["workflow", "-occurred_at"], name="trigger_workflow_time_idx"),
            # A lead's triggers (lead page), and the rate limit: this lead's triggers of
            # the last 180 s, a few rows, filtered by workflow and outcome.
            models.Index(fields=["lead", "-occurred_at"], name="trigger_lead_time_idx"),
            # Re-enrollment gate: has this lead fired this workflow (since …)? One index
            # probe per workflow (records.enrolled), whatever the lead's history.
            models.Index(
                fields=["lead", "workflow", "-occurred_at"],
                condition=Q(outcome="fired"),
                name="trigger_enrollment_idx",
            ),
            # Loop protection: a workflow's fired iterations of the last 60 minutes, across
            # leads (records.loop_window_count). Only iterations are in it: a few rows.
            models.Index(
                fields=["workflow", "-occurred_at"],
                condition=Q(outcome="fired", loop_iteration__gt=0),
                name="trigger_loop_window_idx",
            ),
        ]

    def __str__(self):
        return (
            f"{self.workflow_id}/{self.lead_id} {self.outcome} {self.occurred_at:%Y-%m-%d %H:%M:%S}"
        )


class LogEntryQuerySet(models.QuerySet):
    def unexecuted(self):
        return self.filter(state=EntryState.PENDING)

    def flush(self, reason="flushed by an operator", now=None):
        """Flush the pending entries among these. Returns (entries flushed, leads affected)."""
        pending = self.unexecuted()
        leads = pending.values("lead_id").distinct().count()
        count = pending.update(
            state=EntryState.FLUSHED,
            reason=reason,
            finished_at=now or timezone.now(),
            lease_until=None,
        )
        return count, leads


class LogEntry(models.Model):
    """One scheduled action: the pending-work queue and its log at once.

    The lead and list are references kept without a database constraint so the
    log outlives a deleted lead (a "lead deleted" workflow still runs, from the
    snapshot in `context`). `lease_until` is the dispatcher's claim: a pending
    entry whose lease is in the future has been handed to a worker; a running
    entry whose lease has passed belongs to a worker that died.
    """

    # workflow, lead and list get no single-column index: the composite indexes
    # below lead with them (each index costs every insert of this hot table).
    # Workflow, action and trigger: no database constraint (each costs a check
    # per inserted entry at commit, together ~10 % of a save that fires ten
    # workflows). Django deletes a workflow's entries with it. An action or
    # trigger deleted later leaves its id on the entries (no index, no UPDATE
    # of the log); joined, it reads as None, which the runner skips ("the
    # action was deleted"). A trigger is only deleted with its workflow.
    workflow = models.ForeignKey(
        Workflow,
        on_delete=models.CASCADE,
        db_constraint=False,
        related_name="log_entries",
        db_index=False,
    )
    action = models.ForeignKey(
        Action,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="log_entries",
        db_index=False,
    )
    trigger = models.ForeignKey(
        Trigger,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="entries",
        db_index=False,
    )
    lead = models.ForeignKey(
        Lead, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", db_index=False
    )
    list = models.ForeignKey(
        List,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    action_type = models.CharField(max_length=20, choices=ActionType)
    state = models.CharField(max_length=10, choices=EntryState, default=EntryState.PENDING)
    reason = models.CharField(max_length=500, blank=True)
    due_at = models.DateTimeField()
    lease_until = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)
    context = models.JSONField(
        default=dict, blank=True, help_text="Call id, causal chain, lead snapshot when deleted."
    )
    # Random, so unique without a unique index: nothing looks entries up by it,
    # and an index of random keys costs every insert a random page (and, after
    # each checkpoint, a full-page WAL image of it).
    idempotency_key = models.UUIDField(default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    objects = LogEntryQuerySet.as_manager()

    class Meta:
        verbose_name = "workflow log entry"
        verbose_name_plural = "workflow log entries"
        indexes = [
            # The dispatcher's due query: pending entries by due time.
            models.Index(fields=["due_at"], condition=Q(state="pending"), name="entry_due_idx"),
            # Recovery: running entries whose worker's lease ran out.
            models.Index(
                fields=["lease_until"], condition=Q(state="running"), name="entry_running_lease_idx"
            ),
            # Skip-if-pending, stop-if cancel, lead-page flush: a lead's unexecuted entries.
            models.Index(
                fields=["lead", "workflow"],
                condition=Q(state__in=["pending", "running"]),
                name="entry_lead_unexecuted_idx",
            ),
            # Log list filtered by workflow and date range, newest first.
            models.Index(fields=["workflow", "-created_at"], name="entry_workflow_time_idx"),
            # A lead's log (lead page, filter by lead).
            models.Index(fields=["lead", "-created_at"], name="entry_lead_time_idx"),
            # Log list filtered by list and date range.
            models.Index(fields=["list", "-created_at"], name="entry_list_time_idx"),
            # Global log list by date range (and its default ordering).
            models.Index(fields=["-created_at"], name="entry_time_idx"),
            # The contact budget (automation.execution.sendtime.Facts): a lead's succeeded
            # outreach entries finished in the last 7 days. Partial: outreach
            # entries that went out are a small part of the log.
            models.Index(
                fields=["lead", "finished_at"],
                condition=Q(state="succeeded", action_type__in=sorted(OUTREACH_CHANNELS)),
                name="entry_lead_contact_idx",
            ),
        ]

    def __str__(self):
        return f"#{self.pk} {self.action_type} lead {self.lead_id} {self.state}"


class Notification(models.Model):
    """A conflict notification (loop-disabled workflow), shown until acknowledged."""

    workflow = models.ForeignKey(
        Workflow, on_delete=models.CASCADE, related_name="notifications", null=True, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    message = models.TextField()
    chain = models.JSONField(default=list, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.message[:80]


class Heartbeat(models.Model):
    """The last sign of life of one long-running process: a dispatcher or a cluster.

    Each process owns one row (`name`: role, host and pid) and rewrites it every
    few seconds while it does its work (a dispatcher after each claim, a
    cluster's sentinel after each guard cycle). `/healthz` reads them: a
    dispatcher not seen for 30 s, or a row naming a `wedged` part, is unhealthy.
    `info` holds what an operator (or a test) needs to find the processes.
    """

    name = models.CharField(max_length=200, unique=True)
    role = models.CharField(max_length=20, choices=HeartbeatRole)
    seen_at = models.DateTimeField()
    wedged = models.CharField(
        max_length=500, blank=True, help_text="What is stuck, as last seen; empty when healthy."
    )
    wedges = models.PositiveIntegerField(default=0, help_text="Wedges this process found.")
    info = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            # /healthz and /metrics: the newest heartbeat of each role.
            models.Index(fields=["role", "-seen_at"], name="heartbeat_role_seen_idx"),
        ]

    def __str__(self):
        return f"{self.name} seen {self.seen_at:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def beat(cls, name, role, wedged="", new_wedge=False, info=None, now=None):
        """Record that `name` is alive (one upsert); `new_wedge` counts one more wedge."""
        values = {"role": role, "seen_at": now or timezone.now(), "wedged": wedged[:500]}
        if info is not None:
            values["info"] = info
        row, created = cls.objects.update_or_create(name=name, defaults=values)
        if new_wedge:
            cls.objects.filter(pk=row.pk).update(wedges=models.F("wedges") + 1)
        return row

    @classmethod
    def forget_gone(cls, now=None, after=timedelta(days=7)):
        """Delete the rows of processes gone for `after` (each restart makes a new
        row), except those that found wedges: /metrics keeps counting them."""
        now = now or timezone.now()
        return cls.objects.filter(seen_at__lt=now - after, wedges=0).delete()[0]


class RulesVersion(models.Model):
    """A single row whose token changes whenever a rule changes (see automation.engine.rules).

    A fresh random token per change, not a counter: a change that rolls back
    leaves its number to be reused by the next change, and a process that
    compiled its index inside the rolled-back transaction would take the two
    for the same version. Tokens are never reused."""

    token = models.UUIDField(default=uuid.uuid4)

    def __str__(self):
        return f"rules {self.token}"


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


class Adaptor(UsedByActions):
    """What an INTEGRATION action sends: source fields mapped to destination keys.

    `fields` is a list of {"source", "to", "default", "date_format"}; `to` may
    name several keys separated by commas.
    """

    config_key = "adaptor"

    fields = models.JSONField(default=list, blank=True)


# --- The send-time guard's configuration (SPEC C.3) ---------------------------------


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
