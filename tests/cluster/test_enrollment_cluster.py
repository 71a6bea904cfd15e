"""A bulk enrollment on a real django-q2 cluster (SPEC C.6): the job runs in the
workers, its triggers' entries run there too, and a job whose cluster was killed
mid-way is resumed by the dispatcher without enrolling any lead twice."""

from collections import Counter

import pytest
from django.db import transaction
from django.db.models import Count

from automation.constants import EnrollmentStatus, EntryState, TriggerOutcome
from automation.execution import enrollment as jobs
from automation.models import (
    Action,
    ActionSet,
    Enrollment,
    EventCondition,
    LogEntry,
    Trigger,
    Workflow,
)
from leads.models import Lead

pytestmark = pytest.mark.cluster


@pytest.fixture
def welcome(transactional_db, statuses):
    """State CA → Status FOLLOW, at once (made after the leads: their creation fired nothing)."""

    def make():
        workflow = Workflow.objects.create(name="California welcome", all_campaigns=True)
        EventCondition.objects.create(
            workflow=workflow,
            type="LEAD_FIELDS",
            config={"field": "state", "operator": "equals", "value": "CA"},
        )
        Action.objects.create(
            action_set=ActionSet.objects.create(workflow=workflow),
            type="STATUS",
            config={"status": "FOLLOW"},
        )
        return workflow

    return make


def test_the_workers_enroll_and_run_the_actions(
    welcome, make_leads, cluster, dispatcher, wait_until, log
):
    make_leads(30, state="CA")
    workflow = welcome()
    cluster()
    dispatcher()
    with transaction.atomic():
        job = jobs.start(workflow, {}, rate=1000)
    job = wait_until(
        lambda: Enrollment.objects.filter(pk=job.pk, status=EnrollmentStatus.DONE).first(),
        120,
        "the enrollment to finish",
    )
    assert job.done == 30 and job.outcomes == {TriggerOutcome.FIRED: 30}
    wait_until(log.drained, 120, "every enrolled lead's action to finish")
    assert set(LogEntry.objects.values_list("state", flat=True)) == {EntryState.SUCCEEDED}
    assert Lead.objects.filter(status_id="FOLLOW").count() == 30


def test_a_killed_cluster_is_resumed_and_enrolls_no_lead_twice(
    welcome, make_leads, cluster, dispatcher, wait_until
):
    make_leads(40, state="CA")
    workflow = welcome()
    workers = cluster()
    with transaction.atomic():
        job = jobs.start(workflow, {}, rate=8)  # 5 s of work: batches of 8 a second
    wait_until(lambda: Enrollment.objects.get(pk=job.pk).done >= 8, 120, "a first batch")
    workers.kill()
    stalled = Enrollment.objects.get(pk=job.pk)
    assert stalled.status == EnrollmentStatus.RUNNING and stalled.done < 40
    # Its lease would run out in LEASE seconds; let that time have passed.
    Enrollment.objects.filter(pk=job.pk).update(lease_until=stalled.created_at)
    cluster()
    dispatcher()  # its sweep finds the stalled job and hands it on
    job = wait_until(
        lambda: Enrollment.objects.filter(pk=job.pk, status=EnrollmentStatus.DONE).first(),
        120,
        "the resumed enrollment to finish",
    )
    assert job.done == 40
    per_lead = Counter(
        dict(
            Trigger.objects.filter(occurrence__enrollment_id=job.pk)
            .values_list("lead_id")
            .annotate(n=Count("id"))
        )
    )
    assert len(per_lead) == 40 and set(per_lead.values()) == {1}
