"""A workflow's configuration: Workflow -> EventCondition*, ActionSet* -> Action*."""

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from automation.constants import (
    ActionType,
    DelayMode,
    Direction,
    EventType,
    Reenrollment,
    Relation,
    RelationMode,
    StopIf,
    VersionSource,
    Window,
)
from leads.models import (
    Campaign,
    EmailTemplate,
    InboundNumber,
    List,
    Queue,
)
from leads.named import NamedManager

TOKEN_BITS = 48  # a sum of 32,000 tokens still fits a signed 64-bit integer


def new_rules_token():
    return secrets.randbits(TOKEN_BITS)


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
    flood_limit = models.PositiveIntegerField(
        default=1000,
        validators=[MinValueValidator(1), MaxValueValidator(1_000_000)],
        help_text="Flood hold: past this many triggers within 60 s, further entries are "
        "stored 'held' until an operator releases or flushes them.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)
    # A new random token whenever what the rule index compiles of it changes
    # (its settings, conditions, action sets, actions, relations): a process
    # compiles again only the workflows whose token moved, and finds them by
    # sums of tokens per group of ids (automation.engine.rules).
    rules_token = models.BigIntegerField(default=new_rules_token, editable=False)
    # The number of its latest stored version (WorkflowVersion; 0: none stored yet).
    # The rule index carries it, so every trigger and entry records the version
    # it was created under without a query (SPEC C.2).
    version = models.PositiveIntegerField(default=0, editable=False)
    # Archived (SPEC C.2): inactive, out of the rule index and of the default
    # lists; its triggers, log and versions stay. Erasing them is a purge.
    archived_at = models.DateTimeField(null=True, blank=True, editable=False)

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
        permissions = [
            ("purge_workflow", "Can erase a workflow with its triggers, log and versions"),
        ]

    def __str__(self):
        return self.name

    @property
    def archived(self):
        return self.archived_at is not None

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


class WorkflowVersion(models.Model):
    """One stored version of a workflow (SPEC C.2): its whole document as the API
    exports it (with the ids of its events, action sets and actions), who stored it,
    through what, and what changed since the version before."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source = models.CharField(max_length=10, choices=VersionSource)
    summary = models.CharField(max_length=500, blank=True)
    document = models.JSONField()

    class Meta:
        ordering = ["workflow", "-number"]
        constraints = [
            # One number per version of a workflow; also serves its history, newest first.
            models.UniqueConstraint(fields=["workflow", "number"], name="workflow_version_uniq"),
        ]

    def __str__(self):
        return f"{self.workflow_id} v{self.number}"
