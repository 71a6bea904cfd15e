"""Bulk enrollment (SPEC C.6): an `enroll` occurrence per lead through one workflow's
gates, in keyset batches of their own transactions, throttled, cancellable, resumable.

The throttle runs on an injected clock: `Clock.sleep` advances it and records
what the job would have slept; nothing here sleeps.
"""

import pytest
from django.utils import timezone

from automation.constants import (
    NOT_MATCHED,
    RATE_LIMIT_TRIGGERS,
    EnrollmentStatus,
    EntryState,
    TriggerOutcome,
)
from automation.execution import enrollment as jobs
from automation.models import Enrollment, LogEntry, Trigger, Workflow
from tests.automation.engine_helpers import (  # noqa: F401
    entries,
    fresh_rules,
    make_workflow,
    outcomes,
)

pytestmark = pytest.mark.django_db

IN_CA = [("LEAD_FIELDS", {"field": "state", "operator": "equals", "value": "CA"})]
LATER = {"delay_mode": "fixed", "delay_hours": 1}


class Clock:
    """A monotonic clock that only moves when the job sleeps (or a test says so)."""

    def __init__(self, on_sleep=None):
        self.t = 1000.0
        self.slept = []
        self.on_sleep = on_sleep

    def __call__(self):
        return self.t

    def sleep(self, seconds):
        self.slept.append(round(seconds, 6))
        self.t += seconds
        if self.on_sleep:
            self.on_sleep()


def started(workflow, rate=1000, job_filter=None, lead_ids=None):
    return jobs.start(workflow, job_filter or {}, rate, lead_ids=lead_ids)


def run(job, clock=None, **kwargs):
    clock = clock or Clock()
    job.refresh_from_db()
    result = jobs.run(job.pk, job.token, clock=clock, sleep=clock.sleep, **kwargs)
    job.refresh_from_db()
    return result


# --- What matches an enroll occurrence ---------------------------------------------


def test_it_fires_a_state_condition_for_the_leads_that_meet_it(make_lead):
    wf = make_workflow(IN_CA, delay=LATER)
    ca, tx = make_lead(state="CA"), make_lead(state="TX")
    Trigger.objects.all().delete()  # the creations' own triggers
    LogEntry.objects.all().delete()
    job = started(wf)
    assert job.matched == 2
    run(job)
    assert job.status == EnrollmentStatus.DONE
    assert job.done == 2 and job.progress == 1.0
    assert job.outcomes == {TriggerOutcome.FIRED: 1, NOT_MATCHED: 1}
    assert outcomes(wf, ca) == [TriggerOutcome.FIRED]
    assert outcomes(wf, tx) == []
    trigger = Trigger.objects.get(workflow=wf, lead_id=ca.pk)
    assert "enroll" in trigger.occurrence["facts"]
    assert trigger.occurrence["enrollment_id"] == job.pk
    assert [e.state for e in entries(wf, ca)] == [EntryState.PENDING]


@pytest.mark.parametrize(
    "events",
    [
        [("DISPOSITION", {"values": ["SALE"]})],
        [("CALL_TYPE", {"values": ["outbound"]})],
        [("LEAD_ACTION", {"values": ["create", "save"]})],
        [("LEAD_STATUS", {"to": ["NEW"]})],
        [("CALLBACK", {})],
        # "becomes" needs an occurrence that changed the lead: enrolling changes nothing.
        [
            (
                "LEAD_FIELDS",
                {"field": "state", "operator": "equals", "value": "CA", "when": "becomes"},
            )
        ],
    ],
)
def test_it_matches_no_occurrence_condition(make_lead, events):
    wf = make_workflow(events, delay=LATER)
    make_lead(state="CA", status_id="NEW")
    Trigger.objects.all().delete()
    job = started(wf)
    run(job)
    assert job.outcomes == {NOT_MATCHED: 1}
    assert outcomes(wf) == []


def test_it_puts_the_leads_through_that_workflow_only(make_lead):
    wf = make_workflow(IN_CA, delay=LATER)
    other = make_workflow(IN_CA, delay=LATER)
    lead = make_lead(state="CA")
    before = outcomes(other)
    job = started(wf)
    run(job)
    assert outcomes(other) == before
    assert outcomes(wf, lead) == [TriggerOutcome.FIRED, TriggerOutcome.FIRED]
    assert Trigger.objects.filter(occurrence__enrollment_id=job.pk).get().workflow_id == wf.pk


def test_it_respects_the_workflow_scope(make_lead, other_list):
    wf = make_workflow(IN_CA, delay=LATER, relation="list", objects=[other_list])
    inside = make_lead(state="CA", list=other_list)
    make_lead(state="CA")
    job = started(wf)
    run(job)
    assert job.done == 2
    assert job.outcomes == {TriggerOutcome.FIRED: 1, NOT_MATCHED: 1}
    enrolled = Trigger.objects.filter(occurrence__enrollment_id=job.pk)
    assert list(enrolled.values_list("lead_id", flat=True)) == [inside.pk]


# --- The gates apply ---------------------------------------------------------------


def test_it_skips_a_lead_with_pending_actions(make_lead):
    wf = make_workflow(IN_CA, delay=LATER, skip_if_pending=True)
    lead = make_lead(state="CA")  # its creation fired: one entry pending
    assert len(entries(wf, lead)) == 1
    job = started(wf)
    run(job)
    assert job.outcomes == {TriggerOutcome.SKIPPED_PENDING: 1}
    assert outcomes(wf, lead) == [TriggerOutcome.FIRED, TriggerOutcome.SKIPPED_PENDING]
    assert len(entries(wf, lead)) == 1


def test_it_rate_limits_a_lead_that_fired_too_often(make_lead):
    wf = make_workflow(IN_CA, delay=LATER)
    lead = make_lead(state="CA")
    now = timezone.now()
    Trigger.objects.bulk_create(
        Trigger(workflow=wf, lead_id=lead.pk, outcome=TriggerOutcome.FIRED, occurred_at=now)
        for _ in range(RATE_LIMIT_TRIGGERS)
    )
    job = started(wf)
    run(job)
    assert job.outcomes == {TriggerOutcome.RATE_LIMITED: 1}


def test_it_enrolls_a_once_only_workflow_once(make_lead):
    wf = make_workflow(IN_CA, delay=LATER, reenrollment="once")
    fresh = make_lead(state="TX")
    make_lead(state="CA")  # fired at its creation
    type(fresh).objects.filter(pk=fresh.pk).update(state="CA")  # no occurrence
    first = started(wf)
    run(first)
    assert first.outcomes == {TriggerOutcome.FIRED: 1, TriggerOutcome.ALREADY_ENROLLED: 1}
    again = started(wf)
    run(again)
    assert again.outcomes == {TriggerOutcome.ALREADY_ENROLLED: 2}


def test_it_selects_leads_by_the_filter(make_lead, statuses, other_list):
    wf = make_workflow(IN_CA, delay=LATER)
    a = make_lead(state="CA", status_id="NEW")
    make_lead(state="CA", status_id="SALE")
    c = make_lead(state="CA", status_id="NEW", list=other_list)
    job = started(wf, job_filter={"status": ["NEW"], "campaign": [other_list.campaign_id]})
    assert job.matched == 1
    run(job)
    ids = set(
        Trigger.objects.filter(occurrence__enrollment_id=job.pk).values_list("lead_id", flat=True)
    )
    assert ids == {c.pk}
    assert job.matched == 1 and a.pk not in ids


def test_it_enrolls_an_explicit_selection(make_lead):
    wf = make_workflow(IN_CA, delay=LATER)
    leads = [make_lead(state="CA") for _ in range(3)]
    job = started(wf, lead_ids=[leads[0].pk, leads[2].pk])
    run(job)
    assert job.matched == 2 and job.done == 2
    ids = set(
        Trigger.objects.filter(occurrence__enrollment_id=job.pk).values_list("lead_id", flat=True)
    )
    assert ids == {leads[0].pk, leads[2].pk}


# --- Refused before it starts -------------------------------------------------------


def test_it_refuses_an_inactive_workflow(make_lead):
    wf = make_workflow(IN_CA, active=False)
    with pytest.raises(jobs.Refused, match="workflow is not active"):
        started(wf)
    assert not Enrollment.objects.exists()


def test_it_refuses_a_workflow_without_an_active_condition():
    wf = make_workflow([("LEAD_FIELDS", IN_CA[0][1], False)])
    with pytest.raises(jobs.Refused, match="no active condition"):
        started(wf)


# --- Batches, throttle, cancel, resume ----------------------------------------------


def test_it_works_in_keyset_batches_each_committed_with_its_progress(make_lead):
    wf = make_workflow(IN_CA, delay=LATER)
    for _ in range(5):
        make_lead(state="CA")
    job = started(wf, rate=2)  # a second's worth: batches of 2
    seen = []
    clock = Clock(
        on_sleep=lambda: seen.append(Enrollment.objects.values_list("done", "last_lead_id").get())
    )
    run(job, clock)
    assert job.status == EnrollmentStatus.DONE and job.done == 5
    # Between batches (where it sleeps) the progress of the batch before is saved.
    ids = sorted(
        Trigger.objects.filter(occurrence__enrollment_id=job.pk).values_list("lead_id", flat=True)
    )
    assert seen == [(2, ids[1]), (4, ids[3])]
    assert clock.slept == [1.0, 1.0]  # 2 leads/s: a batch of 2 every second


def test_it_throttles_to_the_rate_from_the_clock():
    clock = Clock()
    throttle = jobs.Throttle(1000, clock, clock.sleep)
    assert throttle.batch_size() == 500
    assert throttle.wait() == 0
    throttle.took(500)
    clock.t += 0.1  # the batch took 100 ms
    assert throttle.wait() == pytest.approx(0.4)
    throttle.took(500)
    clock.t += 0.7  # a slow batch: behind already, no sleep
    assert throttle.wait() == 0
    assert clock.slept == [0.4]
    assert jobs.Throttle(3, clock, clock.sleep).batch_size() == 3
    assert jobs.Throttle(100_000, clock, clock.sleep).batch_size() == jobs.MAX_BATCH


def test_it_stops_when_cancelled(make_lead):
    wf = make_workflow(IN_CA, delay=LATER)
    for _ in range(6):
        make_lead(state="CA")
    job = started(wf, rate=2)
    clock = Clock(on_sleep=lambda: jobs.cancel(job.pk))
    run(job, clock)
    assert job.status == EnrollmentStatus.CANCELLED
    assert job.done == 2
    assert Trigger.objects.filter(occurrence__enrollment_id=job.pk).count() == 2
    assert not jobs.cancel(job.pk)  # only a running job


def test_it_stops_when_the_workflow_is_deactivated(make_lead):
    wf = make_workflow(IN_CA, delay=LATER)
    for _ in range(4):
        make_lead(state="CA")
    job = started(wf, rate=2)
    clock = Clock(on_sleep=lambda: Workflow.objects.filter(pk=wf.pk).update(active=False))
    run(job, clock)
    assert job.status == EnrollmentStatus.CANCELLED
    assert "workflow is not active" in job.reason
    assert job.done == 2


class Died(BaseException):
    """The worker process was killed (nothing in it catches this)."""


def test_it_resumes_after_a_dead_worker_without_enrolling_twice(
    make_lead, monkeypatch, django_capture_on_commit_callbacks
):
    wf = make_workflow(IN_CA, delay=LATER)
    leads = [make_lead(state="CA") for _ in range(5)]
    Trigger.objects.all().delete()
    LogEntry.objects.all().delete()
    job = started(wf, rate=2)
    real = jobs.handler.enroll_many
    batches = []

    def dies_in_the_second_batch(pairs, rule, index=None):
        batches.append(pairs)
        if len(batches) == 2:
            real(pairs[:1], rule, index)  # it had written part of the batch
            raise Died
        return real(pairs, rule, index)

    monkeypatch.setattr(jobs.handler, "enroll_many", dies_in_the_second_batch)
    with pytest.raises(Died):
        run(job)
    job.refresh_from_db()
    # The second batch (leads 3 and 4) rolled back with the worker; the first stayed.
    assert job.done == 2 and job.last_lead_id == leads[1].pk
    assert Trigger.objects.count() == 2
    monkeypatch.setattr(jobs.handler, "enroll_many", real)

    handed = []
    monkeypatch.setattr(jobs, "async_task", lambda *args: handed.append(args))
    assert jobs.resume_stalled(timezone.now()) == []  # its lease is still live
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.resume_stalled(timezone.now() + jobs.LEASE * 2) == [job.pk]
    ((task, job_id, token),) = handed
    assert task == jobs.TASK and job_id == job.pk
    stale = job.token
    job.refresh_from_db()
    assert str(job.token) == token != str(stale)
    assert jobs.run(job.pk, stale) == "not this worker's"  # the dead worker's copy
    clock = Clock()
    assert jobs.run(job.pk, token, clock=clock, sleep=clock.sleep) == "done"
    job.refresh_from_db()
    assert job.status == EnrollmentStatus.DONE and job.done == 5
    per_lead = sorted(Trigger.objects.values_list("lead_id", flat=True))
    assert per_lead == sorted(lead.pk for lead in leads)  # each once


def test_it_hands_the_rest_on_after_its_slice(
    make_lead, monkeypatch, django_capture_on_commit_callbacks
):
    wf = make_workflow(IN_CA, delay=LATER)
    for _ in range(5):
        make_lead(state="CA")
    job = started(wf, rate=2)
    handed = []
    monkeypatch.setattr(jobs, "async_task", lambda *args: handed.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        assert run(job, slice_seconds=1) == "continued"
    assert job.status == EnrollmentStatus.RUNNING and job.done == 4
    ((_, _, token),) = handed
    assert str(job.token) == token
    clock = Clock()
    assert jobs.run(job.pk, token, clock=clock, sleep=clock.sleep) == "done"
    assert Enrollment.objects.get().done == 5


def test_it_fails_the_job_on_an_error_and_says_why(make_lead, monkeypatch):
    wf = make_workflow(IN_CA, delay=LATER)
    make_lead(state="CA")
    job = started(wf)

    def broken(*args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(jobs.handler, "enroll_many", broken)
    assert run(job) == "failed"
    assert job.status == EnrollmentStatus.FAILED
    assert job.reason == "failed: RuntimeError: disk full"


def test_it_reports_progress_while_running(make_lead):
    wf = make_workflow(IN_CA, delay=LATER)
    job = Enrollment.objects.create(workflow=wf, rate=1, matched=4, done=1)
    assert job.progress == 0.25
    job.status = EnrollmentStatus.DONE
    assert job.progress == 1.0
    assert Enrollment(workflow=wf, rate=1).progress == 0.0


def test_a_running_job_is_not_run_by_a_second_copy_of_its_task(make_lead):
    wf = make_workflow(IN_CA, delay=LATER)
    make_lead(state="CA")
    job = started(wf)
    assert jobs.run(job.pk, "00000000-0000-0000-0000-000000000000") == "not this worker's"
    job.refresh_from_db()
    assert job.done == 0


def test_each_lead_of_a_batch_meets_its_own_gates(make_lead):
    wf = make_workflow(IN_CA, delay=LATER, skip_if_pending=True)
    pending = make_lead(state="CA")  # fired at its creation: an entry pending
    limited, fresh = make_lead(state="TX"), make_lead(state="TX")
    type(limited).objects.filter(pk__in=[limited.pk, fresh.pk]).update(state="CA")
    Trigger.objects.bulk_create(
        Trigger(workflow=wf, lead_id=limited.pk, outcome=TriggerOutcome.FIRED)
        for _ in range(RATE_LIMIT_TRIGGERS)
    )
    job = started(wf)
    run(job)
    enrolled = dict(
        Trigger.objects.filter(occurrence__enrollment_id=job.pk).values_list("lead_id", "outcome")
    )
    assert enrolled == {
        pending.pk: TriggerOutcome.SKIPPED_PENDING,
        limited.pk: TriggerOutcome.RATE_LIMITED,
        fresh.pk: TriggerOutcome.FIRED,
    }
    assert len(entries(wf, fresh)) == 1 and len(entries(wf, limited)) == 0


@pytest.mark.parametrize("n", [5, 40])
def test_a_batch_costs_the_same_statements_whatever_its_size(
    make_lead, n, django_assert_max_num_queries
):
    wf = make_workflow(IN_CA, delay=LATER, skip_if_pending=True, reenrollment="once")
    for _ in range(n):
        make_lead(state="TX")
    type(make_lead()).objects.update(state="CA")
    job = started(wf, rate=100)
    job.refresh_from_db()
    # ~21: the job row, the compiled rule (7), the leads, 3 gate reads, the flood count,
    # 2 inserts, 2 job updates, savepoints; per lead it would be 4 statements more.
    with django_assert_max_num_queries(24):
        assert jobs.run_batch(job.pk, job.token, 100) == n + 1
    assert Trigger.objects.filter(occurrence__enrollment_id=job.pk).count() == n + 1


@pytest.mark.postgres
def test_a_batch_locks_the_job_and_its_leads_not_the_workflow(make_lead):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    wf = make_workflow(IN_CA, delay=LATER)
    make_lead(state="CA")
    job = started(wf)
    job.refresh_from_db()
    with CaptureQueriesContext(connection) as captured:
        jobs.run_batch(job.pk, job.token, 10)
    locks = [q["sql"] for q in captured if "FOR UPDATE" in q["sql"]]
    assert len(locks) == 2, locks
    assert locks[0].endswith('FOR UPDATE OF "automation_enrollment"'), locks
    assert locks[1].endswith('FOR UPDATE OF "leads_lead"'), locks  # as a save locks its lead


def test_a_batch_that_hits_a_deadlock_is_tried_again(make_lead, monkeypatch):
    from django.db import OperationalError

    wf = make_workflow(IN_CA, delay=LATER)
    for _ in range(3):
        make_lead(state="CA")
    job = started(wf, rate=2)
    real, calls = jobs.handler.enroll_many, []

    def deadlocks_once(pairs, rule, index=None):
        calls.append(len(pairs))
        if len(calls) == 2:
            raise OperationalError("deadlock detected")
        return real(pairs, rule, index)

    monkeypatch.setattr(jobs.handler, "enroll_many", deadlocks_once)
    monkeypatch.setattr(jobs, "close_old_connections", lambda: None)  # the test's connection
    assert run(job) == "done"
    assert job.status == EnrollmentStatus.DONE and job.done == 3
    assert calls == [2, 1, 1]  # the failed batch again: only one lead was left


def test_a_job_whose_batches_keep_failing_waits_for_its_lease_to_resume(make_lead, monkeypatch):
    from django.db import OperationalError

    wf = make_workflow(IN_CA, delay=LATER)
    make_lead(state="CA")
    job = started(wf)

    def down(*args):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(jobs.handler, "enroll_many", down)
    monkeypatch.setattr(jobs, "close_old_connections", lambda: None)  # the test's connection
    assert run(job) == "interrupted"
    assert job.status == EnrollmentStatus.RUNNING and job.done == 0
    assert job.lease_until > timezone.now()  # resume_stalled hands it on once this passes
