"""Bulk enrollment jobs (SPEC C.6): existing leads through one workflow's gates.

1. `start`: the job row (automation.models.Enrollment) with the leads it
   selects counted (`matched`), handed to django-q2 when the transaction commits.
2. `run` (the django-q2 task, automation.execution.tasks.run_enrollment): runs
   the job for at most SLICE_SECONDS, batch after batch, then hands the next
   slice to django-q2 and returns (no task outlives django-q2's timeout).
   It runs only while it holds the job's `token` (a conditional UPDATE), so a
   copy of the task delivered twice does nothing.
3. A batch (`run_batch`) is one transaction: lock the job row, take the next
   leads by id after `last_lead_id` (keyset: never all of them in memory, never
   one long transaction), put them through `handler.enroll_many` (an `enroll`
   occurrence each, the engine's own gates, restricted to this workflow), and save
   `last_lead_id`, `done` and `outcomes` with the triggers it wrote. A worker
   that dies mid-batch rolls that batch back: nothing is enrolled twice.
4. `Throttle`: batches start no faster than `rate` leads per second (its clock
   and sleep are injected in tests).
5. `resume_stalled` (the dispatcher's sweep): a running job whose lease ran out
   (its worker died, its task was lost, or its batch kept failing on a
   deadlock or a lost connection) is handed to django-q2 again, with a new
   token; it continues after its `last_lead_id`. Any other error fails the
   job, with the error as its reason.
6. `cancel`: the job stops before its next batch.
"""

import logging
import time
import uuid
from collections import Counter
from datetime import timedelta

from django.db import OperationalError, close_old_connections, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_q.tasks import async_task

from automation.constants import EnrollmentStatus
from automation.engine import handler, rules
from automation.engine.occurrences import Occurrence
from automation.models import Enrollment, Workflow
from leads.models import Lead

log = logging.getLogger(__name__)

TASK = "automation.execution.tasks.run_enrollment"
MAX_BATCH = 500  # leads per transaction
SLICE_SECONDS = 60  # one task's share, well under Q_CLUSTER["timeout"]
LEASE = timedelta(seconds=90)  # renewed by every batch; a slice's worker holds it
HANDOFF_LEASE = timedelta(seconds=60)  # a handed-off task not started by then is lost
MAX_SELECTED = 10_000  # an explicit selection of lead ids (the admin's) at most
BATCH_RETRIES = 3  # a batch that hit a deadlock or a lost connection, tried again at once


class Refused(Exception):
    """The job cannot start: the message says why (the API's 400, the admin's error)."""


def startable(workflow):
    """The workflow's compiled rule, or Refused: what an operator is told before a job starts."""
    if not workflow.active:
        raise Refused("workflow is not active: activate it before enrolling leads")
    found, _ = rules.load_rules([workflow])
    if not found:
        raise Refused("workflow has no active condition: it would match no lead")
    return found[0]


def matching(job_filter, lead_ids=None):
    """The leads a job selects: filter values are ids (list, campaign), status codes,
    an ISO `created_after` and a `timezone` (the admin's lead list filter)."""
    leads = Lead.objects.all()
    if lead_ids is not None:
        leads = leads.filter(pk__in=lead_ids)
    if job_filter.get("list"):
        leads = leads.filter(list_id__in=job_filter["list"])
    if job_filter.get("campaign"):
        leads = leads.filter(list__campaign_id__in=job_filter["campaign"])
    if job_filter.get("status"):
        leads = leads.filter(status_id__in=job_filter["status"])
    if job_filter.get("created_after"):
        leads = leads.filter(created_at__gte=parse_datetime(job_filter["created_after"]))
    if "timezone" in job_filter:
        leads = leads.filter(timezone=job_filter["timezone"])
    return leads


def start(workflow, job_filter, rate, lead_ids=None, user=None):
    """Create the job and hand it to django-q2 at commit (Refused if it cannot run)."""
    startable(workflow)
    if lead_ids is not None and len(lead_ids) > MAX_SELECTED:
        raise Refused(f"at most {MAX_SELECTED} leads by selection; use a filter for more")
    now = timezone.now()
    with transaction.atomic():
        job = Enrollment.objects.create(
            workflow=workflow,
            filter=job_filter,
            lead_ids=lead_ids,
            rate=rate,
            matched=matching(job_filter, lead_ids).count(),
            created_by=user if user is not None and user.is_authenticated else None,
            lease_until=now + HANDOFF_LEASE,
        )
        hand_off(job.pk, job.token)
    return job


def hand_off(job_id, token):
    token = str(token)
    transaction.on_commit(lambda: async_task(TASK, job_id, token))


def cancel(job_id, user=None):
    """Stop a running job before its next batch. Returns whether it was running."""
    who = f" by {user.get_username()}" if user is not None and user.is_authenticated else ""
    return bool(
        Enrollment.objects.filter(pk=job_id, status=EnrollmentStatus.RUNNING).update(
            status=EnrollmentStatus.CANCELLED,
            reason=f"cancelled{who}",
            finished_at=timezone.now(),
            lease_until=None,
        )
    )


class Throttle:
    """At most `rate` leads per second: the leads handed out so far, n, may not have
    started before `started + n / rate`. `clock` and `sleep` are injected in tests."""

    def __init__(self, rate, clock=time.monotonic, sleep=time.sleep):
        self.rate, self.clock, self.sleep = rate, clock, sleep
        self.started = clock()
        self.count = 0

    def batch_size(self):
        """A second's worth of leads, at most MAX_BATCH: short transactions, smooth pace."""
        return max(1, min(MAX_BATCH, self.rate))

    def wait(self):
        """Before the next batch: sleep until the leads already handed out are within the rate."""
        delay = self.started + self.count / self.rate - self.clock()
        if delay > 0:
            self.sleep(delay)
        return max(delay, 0)

    def took(self, n):
        self.count += n

    def elapsed(self):
        return self.clock() - self.started


def finish(job, status, reason=""):
    job.status, job.reason = status, reason
    job.finished_at, job.lease_until = timezone.now(), None
    job.save(update_fields=["status", "reason", "finished_at", "lease_until"])


def run_batch(job_id, token, size):
    """One batch in one transaction; how many leads it enrolled (None: the job is over,
    or no longer this worker's)."""
    with transaction.atomic():
        # The job's row only (`of`): a lock on the workflow's row would make every lead
        # save that matches it (records.present: FOR KEY SHARE) wait for the batch.
        job = (
            Enrollment.objects.select_for_update(of=("self",))
            .select_related("workflow")
            .filter(pk=job_id, status=EnrollmentStatus.RUNNING, token=token)
            .first()
        )
        if job is None:
            return None  # cancelled, finished, or handed to another worker
        try:
            rule = startable(job.workflow)
        except Refused as exc:
            finish(job, EnrollmentStatus.CANCELLED, f"stopped: {exc}")
            return None
        # Locked as a save locks its lead: a concurrent save of one of them waits for this
        # batch, so the gates of both read what the other wrote (skip if pending, rate limit).
        leads = list(
            matching(job.filter, job.lead_ids)
            .filter(pk__gt=job.last_lead_id)
            .order_by("pk")
            .select_for_update(of=("self",))[:size]
        )
        now = timezone.now()  # the batch's leads are enrolled at one instant
        pairs = [(Occurrence(lead.pk, now, enrollment_id=job.pk), lead) for lead in leads]
        outcomes = Counter(job.outcomes)
        outcomes.update(handler.enroll_many(pairs, rule, rules.current()))
        if leads:
            job.last_lead_id = leads[-1].pk
            job.done += len(leads)
            job.outcomes = dict(outcomes)
            job.lease_until = timezone.now() + LEASE
            job.save(update_fields=["last_lead_id", "done", "outcomes", "lease_until"])
        if len(leads) < size:
            finish(job, EnrollmentStatus.DONE)
        return len(leads)


def claim(job_id, token):
    """This worker runs the job: it holds its token (a re-delivered copy holds an old one)."""
    return Enrollment.objects.filter(
        pk=job_id, status=EnrollmentStatus.RUNNING, token=token
    ).update(lease_until=timezone.now() + LEASE)


def run(job_id, token, clock=time.monotonic, sleep=time.sleep, slice_seconds=SLICE_SECONDS):
    """The django-q2 task: run the job for one slice, then hand the rest on."""
    token = uuid.UUID(str(token))
    if not claim(job_id, token):
        return "not this worker's"
    job = Enrollment.objects.only("rate").get(pk=job_id)
    throttle = Throttle(job.rate, clock, sleep)
    size = throttle.batch_size()
    retries = 0
    try:
        while True:
            throttle.wait()
            try:
                enrolled = run_batch(job_id, token, size)
            except OperationalError:
                # A deadlock with other lead saves, a lost connection: the batch rolled
                # back. Again, a few times; then the lease runs out and the job resumes.
                log.warning("enrollment %s: batch failed, retrying", job_id, exc_info=True)
                retries += 1
                if retries > BATCH_RETRIES:
                    return "interrupted"
                close_old_connections()
                continue
            retries = 0
            if enrolled is None:
                return "over"
            throttle.took(enrolled)
            if enrolled < size:
                return "done"
            if throttle.elapsed() >= slice_seconds:
                return next_slice(job_id, token)
    except Exception as exc:
        log.exception("enrollment %s failed", job_id)
        Enrollment.objects.filter(pk=job_id, status=EnrollmentStatus.RUNNING).update(
            status=EnrollmentStatus.FAILED,
            reason=f"failed: {type(exc).__name__}: {exc}"[:500],
            finished_at=timezone.now(),
            lease_until=None,
        )
        return "failed"


def next_slice(job_id, token):
    """Hand the rest of the job to django-q2 under a new token (this worker lets go)."""
    fresh = uuid.uuid4()
    with transaction.atomic():
        if Enrollment.objects.filter(
            pk=job_id, status=EnrollmentStatus.RUNNING, token=token
        ).update(token=fresh, lease_until=timezone.now() + HANDOFF_LEASE):
            hand_off(job_id, fresh)
    return "continued"


def resume_stalled(now=None):
    """Running jobs whose lease ran out (a dead worker, a lost task): hand them on again.
    Returns their ids."""
    now = now or timezone.now()
    resumed = []
    stalled = Enrollment.objects.filter(status=EnrollmentStatus.RUNNING).filter(
        Q(lease_until__lt=now) | Q(lease_until__isnull=True)
    )
    for job_id, token in stalled.values_list("pk", "token"):
        fresh = uuid.uuid4()
        with transaction.atomic():
            if Enrollment.objects.filter(pk=job_id, token=token).update(
                token=fresh, lease_until=now + HANDOFF_LEASE
            ):
                hand_off(job_id, fresh)
                resumed.append(job_id)
                log.warning("enrollment %s stalled: resuming after its last batch", job_id)
    return resumed


def active_workflows():
    """The workflows a job may be started for (the admin's choice)."""
    return Workflow.objects.filter(active=True).order_by("name")
