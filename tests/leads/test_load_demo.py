"""manage.py load_demo: a deterministic demo call center, loaded any number of times,
and its activity: three workflows that act on the calls the demo records every minute."""

import io
import json
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ, Schedule

from automation.constants import EntryState
from automation.models import Endpoint, LogEntry, Workflow
from leads import demo
from leads.models import (
    Call,
    CustomField,
    DncEntry,
    HopperEntry,
    Lead,
    Status,
    custom_field_errors,
)
from tests import httpserver

http_server = httpserver.http_server  # the fixture


def load_demo(*args):
    out = io.StringIO()
    call_command("load_demo", "--no-activity", *args, stdout=out)
    return out.getvalue()


def load_demo_with_activity(addr="127.0.0.1:8011"):
    out = io.StringIO()
    call_command("load_demo", "--addr", addr, stdout=out)
    return out.getvalue()


def counts():
    return {
        model.__name__: model.objects.count() for model in apps.get_app_config("leads").get_models()
    }


def test_it_loads_the_demo_once(db):
    load_demo()
    first = counts()
    output = load_demo()

    assert counts() == first
    assert "created 0 users, 0 statuses" in output
    assert first["Lead"] == 200
    assert first["Call"] > 0


def test_it_spreads_leads_over_time_zones_with_valid_numbers(db):
    load_demo()

    zones = set(Lead.objects.values_list("timezone", flat=True))
    assert {"America/New_York", "America/Chicago", "America/Denver", "America/Phoenix",
            "America/Los_Angeles"} <= zones  # fmt: skip
    assert all(
        phone.startswith("+1") for phone in Lead.objects.values_list("phone_number", flat=True)
    )


def test_its_leads_reflect_their_calls(db):
    load_demo()

    for lead in Lead.objects.filter(called_count__gt=0):
        calls = list(Call.objects.filter(lead=lead).order_by("started_at"))
        assert lead.called_count == len(calls)
        assert lead.last_called_at == calls[-1].started_at
        assert lead.status_id == calls[-1].disposition_id


def test_it_creates_the_statuses_and_an_admin(db):
    load_demo()

    sale = Status.objects.get(code="SALE")
    assert (sale.reached, sale.contact, sale.sale, sale.final) == (True, True, True, True)
    assert Status.objects.get(code="A").voicemail
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("admin")


def test_it_creates_three_active_workflows_and_one_schedule_once(db, settings):
    settings.DEMO_RECEIVER = False
    first = load_demo_with_activity()
    second = load_demo_with_activity("127.0.0.1:8012")

    assert Workflow.objects.filter(active=True).count() == 3
    assert Schedule.objects.filter(func="leads.demo.record_calls").count() == 1
    # The receiver's endpoint follows the web server's address.
    assert Endpoint.objects.get().url == "http://127.0.0.1:8012/demo/receiver/"
    assert "created 0 users" in second and "0 workflows" in second
    assert "http://127.0.0.1:8011/admin/automation/logentry/" in first
    assert "The sales webhook will fail: set DEMO_RECEIVER=True" in first


def test_it_says_nothing_about_the_webhook_when_the_receiver_is_allowed(db, settings):
    settings.DEMO_RECEIVER = True
    settings.INTEGRATION_ALLOWED_URLS = ["http://127.0.0.1:8011/demo/receiver/"]

    assert "webhook will fail" not in load_demo_with_activity()


@pytest.mark.django_db(transaction=True)
def test_its_activity_sets_the_workflows_working(http_server, settings, monkeypatch):
    # As `make run` configures it: only the receiver's URL is exempt from the refusal.
    receiver = http_server.url("/demo/receiver/")
    settings.INTEGRATION_ALLOW_PRIVATE_NETWORKS = False
    settings.INTEGRATION_ALLOWED_URLS = [receiver]
    http_server.reply(json={"ok": True})
    with monkeypatch.context() as patch:
        patch.setattr(Conf, "SYNC", False)  # the first activity waits in the broker
        load_demo_with_activity(receiver.split("/")[2])

    calls = demo.record_calls()  # the scheduled task (sync mode: entries run at commit)

    assert len(calls) == 3
    by_type = {e.action_type: e for e in LogEntry.objects.all()}
    assert by_type.keys() == {"INTEGRATION", "DNC", "HOPPER"}
    assert by_type["INTEGRATION"].state == EntryState.SUCCEEDED, by_type["INTEGRATION"].reason
    assert by_type["DNC"].state == EntryState.SUCCEEDED, by_type["DNC"].reason
    hopper = by_type["HOPPER"]
    assert hopper.state == EntryState.PENDING
    assert hopper.due_at >= timezone.now() + timedelta(minutes=1)
    sale = Call.objects.get(pk=calls[0])
    (posted,) = http_server.requests
    assert posted.path == "/demo/receiver/"
    assert json.loads(posted.body)["lead_id"] == sale.lead_id
    dnc_lead = Call.objects.get(pk=calls[1]).lead
    assert DncEntry.objects.filter(phone_number=dnc_lead.phone_number).exists()
    assert not HopperEntry.objects.filter(lead=Call.objects.get(pk=calls[2]).lead_id).exists()


def test_it_queues_the_first_activity_at_commit(transactional_db, monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", False)  # to the ORM broker, as `make run` does
    load_demo_with_activity()

    assert [task.func() for task in OrmQ.objects.all()] == ["leads.demo.record_calls"]


def test_it_loads_an_example_set_of_calling_rules_marked_as_an_example(db):
    from automation.models import CallingRule

    load_demo()
    load_demo()

    rules = list(CallingRule.objects.all())
    assert len(rules) == 3
    assert all(rule.name.startswith("Example") for rule in rules)
    for rule in rules:
        rule.full_clean()  # as the admin and the API would accept them


@pytest.mark.django_db
def test_the_demo_leads_carry_only_declared_custom_fields_of_their_type():
    load_demo()
    declared = CustomField.objects.in_bulk(field_name="name")
    assert {"monthly_bill", "roof_type", "home_owner"} <= set(declared)
    leads = list(Lead.objects.exclude(custom_fields={}))
    assert leads
    for lead in leads:
        assert custom_field_errors(lead.custom_fields, declared) == {}, lead.custom_fields
