"""The occurrence journal (SPEC C.6): every occurrence the engine evaluates, appended in
the transaction of the change, kept JOURNAL_DAYS days."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import transaction
from django_q.models import Schedule

from automation.engine import journal
from automation.models import JournalEntry
from leads.models import Call, Lead
from tests.automation.engine_helpers import fresh_rules, make_workflow  # noqa: F401

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 5, 4, 15, 0, tzinfo=UTC)


def rows():
    return list(JournalEntry.objects.order_by("id"))


def test_it_journals_a_lead_save_with_its_values_and_the_changed_ones_before(make_lead):
    lead = make_lead(city="Fresno", custom_fields={"plan": "gold"})
    lead = Lead.objects.get(pk=lead.pk)
    lead.city = "Reno"
    lead.called_count = 3
    with time_machine.travel(T0, tick=False):
        lead.save()
    created, saved = rows()
    assert created.kind == "create" and created.before is None
    assert saved.kind == "save"
    assert saved.occurred_at == T0
    assert saved.lead_id == lead.pk
    assert saved.facts["lead_action"] == "save"
    assert saved.facts["changed_fields"] == ["called_count", "city"]
    assert saved.values["city"] == "Reno"
    assert saved.values["called_count"] == 3
    assert saved.values["custom_fields"] == {"plan": "gold"}
    assert saved.values["list_id"] == lead.list_id
    assert saved.before == {"city": "Fresno", "called_count": 0}
    assert "first_name" in saved.values and "address2" not in saved.values  # defaults left out
    assert saved.workflow_id is None


def test_it_journals_in_the_transaction_of_the_change(make_lead):
    lead = make_lead()
    before = JournalEntry.objects.count()
    with transaction.atomic():
        Lead.objects.get(pk=lead.pk).save()
        assert JournalEntry.objects.count() == before + 1
        transaction.set_rollback(True)
    assert JournalEntry.objects.count() == before


def test_it_writes_nothing_when_journal_days_is_zero(make_lead, settings):
    settings.JOURNAL_DAYS = 0
    lead = make_lead()
    Lead.objects.get(pk=lead.pk).save()
    assert JournalEntry.objects.count() == 0


def test_it_journals_a_call_with_its_facts(make_lead, statuses):
    lead = make_lead()
    Call.record(lead=lead, disposition=statuses["SALE"], call_type="outbound", length=30)
    call_row = rows()[-1]
    assert call_row.kind == "call"
    assert call_row.facts["disposition"] == "SALE"
    assert call_row.facts["call"]["call_type"] == "outbound"
    assert call_row.facts["call"]["disposition_name"] == "Sale"


def test_it_rebuilds_the_occurrence_and_the_lead_the_engine_saw(make_lead, statuses):
    lead = make_lead(city="Fresno", status=statuses["NEW"])
    lead = Lead.objects.get(pk=lead.pk)
    lead.status = statuses["FOLLOW"]
    lead.last_called_at = T0
    lead.save()
    row = rows()[-1]
    occ, again, loaded = journal.replayed(
        row.occurred_at, row.lead_id, row.facts, row.values, row.before
    )
    assert occ.lead_action == "save" and occ.status_from == "NEW" and occ.status_to == "FOLLOW"
    assert occ.changed_fields == frozenset({"status", "last_called_at"})
    assert occ.facts() == {"lead_action", "lead_saved", "status_change"}
    assert again.pk == lead.pk and again.city == "Fresno" and again.status_id == "FOLLOW"
    assert again.last_called_at == T0
    assert again.zone_name == lead.zone_name
    assert loaded("status_id") == "NEW" and loaded("last_called_at") is None


def test_it_files_a_bulk_enrollments_occurrences_under_their_workflow(make_lead):
    from automation.engine import handler, rules
    from automation.engine.occurrences import Occurrence

    wf = make_workflow([("LEAD_FIELDS", {"field": "city", "operator": "equals", "value": "X"})])
    leads = [make_lead(), make_lead()]
    before = JournalEntry.objects.count()
    pairs = [(Occurrence(lead.pk, T0, enrollment_id=7), lead) for lead in leads]
    handler.enroll_many(pairs, rules.current().rules[wf.pk])
    new = rows()[before:]
    assert [(r.lead_id, r.kind, r.workflow_id) for r in new] == [
        (leads[0].pk, "enroll", wf.pk),
        (leads[1].pk, "enroll", wf.pk),
    ]
    assert new[0].facts == {"enrollment_id": 7} and new[0].before is None


def test_it_prunes_what_is_older_than_journal_days(make_lead, settings):
    settings.JOURNAL_DAYS = 30
    lead = make_lead()
    for days in (45, 31, 29, 1):
        with time_machine.travel(T0 - timedelta(days=days), tick=False):
            Lead.objects.get(pk=lead.pk).save()
    with time_machine.travel(T0, tick=False):
        assert journal.prune(batch=1) == 2  # 45 and 31 days old go
    kept = sorted((T0 - r.occurred_at).days for r in rows() if r.kind == "save")
    assert kept == [1, 29]


def test_it_prunes_everything_when_turned_off(make_lead, settings):
    lead = make_lead()
    Lead.objects.get(pk=lead.pk).save()
    settings.JOURNAL_DAYS = 0
    journal.prune()
    assert JournalEntry.objects.count() == 0


def test_the_prune_is_a_daily_schedule():
    schedule = Schedule.objects.get(name="Prune occurrence journal")
    assert schedule.func == "automation.execution.tasks.prune_journal"
    assert schedule.schedule_type == Schedule.DAILY
    assert schedule.repeats == -1
