"""A bulk enrollment job (SPEC C.6): existing leads put through one workflow's gates.

The row is the job's whole state: which leads (`filter`, or the admin's
explicit `lead_ids`), how fast (`rate`), how far (`last_lead_id`: leads are
taken in id order, so every lead at or below it is done, and only those) and
what became of them (`done`, `outcomes`). Each batch commits its triggers
together with the new `last_lead_id`, so a job whose worker died continues
where its last batch committed and never enrolls a lead twice.

Who runs it: whoever holds `token` with a live `lease_until`
(automation.execution.enrollment).
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from automation.constants import EnrollmentStatus
from automation.models.workflows import Workflow

# The most leads per second a job may ask for: more is a typo, not a plan.
MAX_RATE = 10_000


class Enrollment(models.Model):
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="enrollments")
    status = models.CharField(
        max_length=20, choices=EnrollmentStatus, default=EnrollmentStatus.RUNNING
    )
    filter = models.JSONField(
        default=dict,
        blank=True,
        help_text="Which leads, by id: list, campaign (ids), status (codes), created_after "
        "(ISO), timezone.",
    )
    lead_ids = models.JSONField(
        null=True, blank=True, help_text="An explicit selection (the admin's checked leads)."
    )
    rate = models.PositiveIntegerField(help_text="At most this many leads per second.")
    matched = models.PositiveIntegerField(default=0, help_text="Leads selected when it started.")
    done = models.PositiveIntegerField(default=0)
    last_lead_id = models.BigIntegerField(default=0, help_text="Every lead up to this id is done.")
    outcomes = models.JSONField(default=dict, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    token = models.UUIDField(default=uuid.uuid4)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The dispatcher's sweep: running jobs whose lease ran out (resume_stalled).
            models.Index(
                fields=["lease_until"],
                name="enrollment_running_idx",
                condition=Q(status="running"),
            ),
        ]

    def __str__(self):
        return f"Enrollment #{self.pk} in {self.workflow}"

    @property
    def progress(self):
        """0..1: done over matched (1 once finished, whatever was deleted meanwhile)."""
        if self.status == EnrollmentStatus.DONE:
            return 1.0
        if not self.matched:
            return 0.0
        return min(1.0, self.done / self.matched)
