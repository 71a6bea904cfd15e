"""Trigger records and pending entries commit or roll back with the change (SPEC §4.2)."""

import pytest
from django.db import transaction
from django.utils import timezone

from automation.engine import handler as engine
from automation.execution import tasks
from automation.models import LogEntry, Trigger
from leads.models import Call, Callback, Lead
from tests.automation.engine_helpers import entries, fresh_rules, make_workflow  # noqa: F401

ON_SAVE = [("LEAD_ACTION", {"values": ["create", "save"]})]


class Boom(Exception):
    pass


@pytest.fixture
def enqueued(monkeypatch):
    """Entry ids handed to django-q2 (after a commit)."""
    handed = []
    monkeypatch.setattr(tasks, "enqueue", lambda ids: handed.extend(ids))
    return handed


@pytest.mark.django_db
def test_it_leaves_nothing_when_the_save_is_rolled_back(make_lead, enqueued):
    wf = make_workflow(ON_SAVE)
    lead = make_lead()
    assert len(entries(wf)) == 1
    with pytest.raises(Boom), transaction.atomic():
        lead.first_name = "Grace"
        lead.save()
        assert len(entries(wf)) == 2
        raise Boom
    assert Trigger.objects.filter(workflow=wf).count() == 1
    assert len(entries(wf)) == 1
    assert Lead.objects.get(pk=lead.pk).first_name == "Ada"


@pytest.mark.django_db
def test_it_leaves_nothing_when_a_callback_is_rolled_back(make_lead):
    wf = make_workflow([("CALLBACK", {})])
    lead = make_lead()
    with pytest.raises(Boom), transaction.atomic():
        Callback.objects.create(lead=lead, due_at=timezone.now())
        raise Boom
    assert not Trigger.objects.filter(workflow=wf).exists()
    assert not Callback.objects.exists()


@pytest.mark.django_db
def test_it_records_no_call_when_the_engine_fails(make_lead, statuses, monkeypatch):
    make_workflow([("DISPOSITION", {"values": ["SALE"]})])
    lead = make_lead()

    def broken(*args, **kwargs):
        raise Boom

    monkeypatch.setattr(engine, "plan", broken)
    with pytest.raises(Boom):
        Call.record(lead=lead, disposition=statuses["SALE"], ended_at=timezone.now())
    assert not Call.objects.exists()
    assert not Trigger.objects.exists()
    lead.refresh_from_db()
    assert lead.called_count == 0
    assert lead.status_id is None


@pytest.mark.django_db(transaction=True)
def test_it_hands_immediate_entries_over_only_after_the_commit(make_lead, enqueued):
    wf = make_workflow(ON_SAVE)
    with transaction.atomic():
        make_lead()
        assert enqueued == []
    assert enqueued == [e.pk for e in entries(wf)]
    assert len(enqueued) == 1


@pytest.mark.django_db(transaction=True)
def test_it_hands_nothing_over_when_the_transaction_rolls_back(make_lead, enqueued):
    wf = make_workflow(ON_SAVE)
    with pytest.raises(Boom), transaction.atomic():
        make_lead()
        raise Boom
    assert enqueued == []
    assert not Lead.objects.exists()
    assert entries(wf) == []
    assert not Trigger.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_it_commits_entries_with_an_autocommit_save(make_lead, enqueued):
    wf = make_workflow(ON_SAVE)
    lead = make_lead()  # Lead.save opens its own transaction
    [entry] = entries(wf)
    assert enqueued == [entry.pk]
    assert LogEntry.objects.get(pk=entry.pk).lead_id == lead.pk
