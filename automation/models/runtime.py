"""Rows the running processes keep: heartbeats and the rule index's token."""

import uuid
from datetime import timedelta

from django.db import models
from django.utils import timezone

from automation.constants import (
    HeartbeatRole,
)


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
