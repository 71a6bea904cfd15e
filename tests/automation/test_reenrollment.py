"""Re-enrollment (SPEC C.4): always, once, once every N days → already_enrolled.

The gate reads when the lead last fired the workflow, one probe of
trigger_enrollment_idx (fired triggers by lead and workflow), and the dry run
explains it with the same gate.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection

from automation.constants import TriggerOutcome
from automation.document import dryrun
from automation.engine import records
from automation.models import Trigger, Workflow
from tests.automation.engine_helpers import (  # noqa: F401
    fresh_rules,
    handle,
    make_workflow,
    outcomes,
)

pytestmark = pytest.mark.django_db

ON_SAVE = [("LEAD_ACTION", {"values": ["save"]})]
LATER = {"delay_mode": "fixed", "delay_hours": 1}
T0 = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
FIRED, HELD = TriggerOutcome.FIRED, TriggerOutcome.ALREADY_ENROLLED


def test_always_lets_a_lead_fire_again(make_lead):
    wf = make_workflow(ON_SAVE, delay=LATER)
    lead = make_lead()
    for _ in range(3):
        handle(lead, lead_action="save")
    assert outcomes(wf) == [FIRED] * 3


def test_once_holds_a_lead_back_after_its_first_firing(make_lead):
    wf = make_workflow(ON_SAVE, delay=LATER, reenrollment="once")
    lead, other = make_lead(), make_lead()
    with time_machine.travel(T0, tick=False) as traveller:
        for _ in range(3):
            handle(lead, lead_action="save")
            traveller.shift(timedelta(days=400))
        handle(other, lead_action="save")
    assert outcomes(wf, lead) == [FIRED, HELD, HELD]
    assert outcomes(wf, other) == [FIRED]
    held = Trigger.objects.filter(workflow=wf, outcome=HELD).first()
    assert held.reason == "already enrolled (once per lead)"
    assert not held.entries.exists()


def test_a_trigger_that_did_not_fire_does_not_enroll(make_lead):
    wf = make_workflow(ON_SAVE, delay=LATER, reenrollment="once", perform_action_on=0)
    lead = make_lead()
    handle(lead, lead_action="save")
    wf.perform_action_on = 100
    wf.save()
    handle(lead, lead_action="save")
    handle(lead, lead_action="save")
    assert outcomes(wf) == [TriggerOutcome.NOT_SELECTED, FIRED, HELD]


def test_once_per_days_lets_a_lead_in_again_after_n_days(make_lead):
    wf = make_workflow(ON_SAVE, delay=LATER, reenrollment="once_per_days", reenroll_after_days=2)
    lead = make_lead()
    with time_machine.travel(T0, tick=False) as traveller:
        handle(lead, lead_action="save")  # fired at T0
        traveller.shift(timedelta(days=1))
        handle(lead, lead_action="save")  # held
        traveller.shift(timedelta(days=1) - timedelta(seconds=1))
        handle(lead, lead_action="save")  # held: one second short of two days
        traveller.shift(timedelta(seconds=1))
        handle(lead, lead_action="save")  # fired: two days since T0
        traveller.shift(timedelta(days=1))
        handle(lead, lead_action="save")  # held: counted from the last firing
    assert outcomes(wf) == [FIRED, HELD, HELD, FIRED, HELD]


def test_it_holds_back_before_skipping_for_pending_actions(make_lead):
    wf = make_workflow(ON_SAVE, delay=LATER, reenrollment="once", skip_if_pending=True)
    lead = make_lead()
    handle(lead, lead_action="save")
    handle(lead, lead_action="save")  # pending actions too: the lasting reason is recorded
    assert outcomes(wf) == [FIRED, HELD]


def test_the_dry_run_explains_already_enrolled(make_lead):
    wf = make_workflow(ON_SAVE, delay=LATER, reenrollment="once")
    lead = make_lead()
    with time_machine.travel(T0, tick=False):
        handle(lead, lead_action="save")
    report = dryrun.explain(wf, lead)
    assert report["outcome"] == "already_enrolled"
    [gate] = [g for g in report["gates"] if g["gate"] == "reenrollment"]
    assert gate == {
        "gate": "reenrollment",
        "passed": False,
        "why": "once per lead: the lead fired it on 2026-03-04 15:00 UTC",
    }
    lead.save()
    assert Trigger.objects.filter(workflow=wf).latest("id").outcome == "already_enrolled"


@pytest.mark.postgres
def test_the_gate_reads_an_index_not_the_leads_whole_history(make_lead):
    """A busy lead: thousands of triggers of 40 other workflows and a few of this one."""
    wf = make_workflow(ON_SAVE, delay=LATER, reenrollment="once")
    others = Workflow.objects.bulk_create(Workflow(name=f"Other {n}") for n in range(40))
    lead = make_lead()
    Trigger.objects.bulk_create(
        Trigger(
            workflow=others[n % 40],
            lead_id=lead.pk if n % 2 else n,
            occurred_at=T0 - timedelta(minutes=n),
            outcome="fired" if n % 3 else "rate_limited",
        )
        for n in range(6_000)
    )
    Trigger.objects.bulk_create(
        Trigger(workflow=wf, lead_id=lead.pk, occurred_at=T0 - timedelta(days=d), outcome="fired")
        for d in range(3)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Trigger._meta.db_table}")
    plan = records.last_fired([lead.pk], [wf.pk]).explain()
    assert "trigger_enrollment_idx" in plan and "Seq Scan" not in plan, plan
    assert records.enrolled(lead.pk, [wf.pk]) == {wf.pk: T0}


def test_the_outcome_is_listed_filtered_and_served_as_a_constant(make_lead):
    from django.contrib.auth.models import User
    from rest_framework.test import APIClient

    wf = make_workflow(ON_SAVE, delay=LATER, reenrollment="once")
    lead = make_lead()
    handle(lead, lead_action="save")
    handle(lead, lead_action="save")
    client = APIClient()
    client.force_authenticate(User.objects.create_superuser("boss", "b@example.com", "pw-b-1234"))
    listed = client.get("/api/v1/workflow-triggers/", {"outcome": "already_enrolled"}).json()
    assert [t["outcome"] for t in listed["results"]] == ["already_enrolled"]
    assert listed["results"][0]["workflow"] == wf.pk
    constants = client.get("/api/v1/constants/").json()
    assert constants["trigger_outcomes"]["already_enrolled"] == "Already enrolled (re-enrollment)"
    assert constants["reenrollment"] == {
        "always": "Always",
        "once": "Once per lead, ever",
        "once_per_days": "Once per lead every N days",
    }
