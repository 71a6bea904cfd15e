"""The log lists: filters, cheap counts, read-only detail, flush and run now."""

from datetime import timedelta
from unittest import mock

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from automation.admin.views import EstimatedCountPaginator
from automation.constants import EntryState
from automation.models import LogEntry

LIST = reverse("admin:automation_logentry_changelist")
FLUSH = reverse("admin:automation_logentry_flush")


def ids(response):
    return sorted(e.pk for e in response.context["cl"].result_list)


def test_it_filters_by_lead_id_typed_in(admin_client_, make_lead, make_workflow, make_entry):
    workflow = make_workflow()
    ada, bob = make_lead(), make_lead(first_name="Bob")
    mine = make_entry(ada, workflow)
    make_entry(bob, workflow)
    response = admin_client_.get(LIST, {"lead": str(ada.pk)})
    assert ids(response) == [mine.pk]
    html = response.content.decode()
    assert f'name="lead" value="{ada.pk}"' in html
    assert "Ada Lovelace" in html  # the lead's name, fetched for the page in one query


def test_it_says_a_lead_id_is_a_number(admin_client_, make_lead, make_workflow, make_entry):
    make_entry(make_lead(), make_workflow())
    response = admin_client_.get(LIST, {"lead": "abc"})
    assert response.status_code == 200
    assert "A lead ID is a number." in response.content.decode()


def test_it_filters_by_date_range(admin_client_, make_lead, make_workflow, make_entry):
    workflow, lead = make_workflow(), make_lead()
    now = timezone.now()
    old = make_entry(lead, workflow, created_at=now - timedelta(days=10))
    new = make_entry(lead, workflow, created_at=now)
    today = timezone.localdate(now).isoformat()
    assert ids(admin_client_.get(LIST, {"created_at_from": today})) == [new.pk]
    before = timezone.localdate(now - timedelta(days=5)).isoformat()
    assert ids(admin_client_.get(LIST, {"created_at_to": before})) == [old.pk]
    response = admin_client_.get(
        LIST, {"created_at_from": "yesterday", "created_at_to": "2026-02-30"}
    )
    assert "Not a date: yesterday, 2026-02-30" in response.content.decode()


def test_it_filters_by_list_action_type_state_and_workflow(
    admin_client_, make_lead, make_workflow, make_entry, other_list
):
    first = make_workflow(actions=[("STATUS", {"status": "FOLLOW"})])
    second = make_workflow(actions=[("HOPPER", {})])
    lead, other = make_lead(), make_lead(list=other_list)
    a = make_entry(lead, first)
    b = make_entry(other, second, state=EntryState.SUCCEEDED)
    assert ids(admin_client_.get(LIST, {"list__id__exact": other_list.pk})) == [b.pk]
    assert ids(admin_client_.get(LIST, {"action_type__exact": "STATUS"})) == [a.pk]
    assert ids(admin_client_.get(LIST, {"state__exact": "succeeded"})) == [b.pk]
    assert ids(admin_client_.get(LIST, {"workflow__id__exact": second.pk})) == [b.pk]


def test_it_never_counts_the_whole_log(admin_client_, make_lead, make_workflow, make_entry):
    make_entry(make_lead(), make_workflow())
    with CaptureQueriesContext(connection) as queries:
        admin_client_.get(LIST)
    counts = [
        q["sql"]
        for q in queries
        if "COUNT(" in q["sql"].upper() and "automation_logentry" in q["sql"]
    ]
    assert counts and all("LIMIT" in sql.upper() for sql in counts), counts


def test_the_paginator_estimates_above_its_cap(make_lead, make_workflow, make_entry, monkeypatch):
    workflow, lead = make_workflow(), make_lead()
    for _ in range(4):
        make_entry(lead, workflow)
    monkeypatch.setattr(EstimatedCountPaginator, "CAP", 2)
    paginator = EstimatedCountPaginator(LogEntry.objects.order_by("-created_at"), 2)
    assert paginator.count >= 3 and paginator.estimated
    monkeypatch.setattr(EstimatedCountPaginator, "CAP", 10)
    exact = EstimatedCountPaginator(LogEntry.objects.order_by("-created_at"), 2)
    assert exact.count == 4 and not exact.estimated


def test_the_detail_page_shows_the_exact_request_and_response(
    admin_client_, make_lead, make_workflow, make_entry
):
    workflow = make_workflow(actions=[("STATUS", {"status": "FOLLOW"})])
    entry = make_entry(
        make_lead(),
        workflow,
        state=EntryState.SUCCEEDED,
        result={
            "status_code": 201,
            "request": {
                "method": "POST",
                "url": "http://crm.test/hook",
                "body": '{"first_name": "Ada"}',
            },
            "response": {"status": 201, "body": '{"ok": true}'},
        },
    )
    response = admin_client_.get(reverse("admin:automation_logentry_change", args=[entry.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "&quot;first_name&quot;: &quot;Ada&quot;" in html  # the body, pretty-printed
    assert "http://crm.test/hook" in html
    assert 'name="_save"' not in html  # read-only


def test_flush_asks_first_and_says_how_many(admin_client_, make_lead, make_workflow, make_entry):
    workflow = make_workflow()
    ada, bob = make_lead(), make_lead()
    pending = [make_entry(ada, workflow), make_entry(ada, workflow), make_entry(bob, workflow)]
    done = make_entry(bob, workflow, state=EntryState.SUCCEEDED)
    selected = [str(e.pk) for e in [*pending, done]]
    response = admin_client_.post(
        LIST, {"action": "flush_selected", "index": "0", ACTION_CHECKBOX_NAME: selected}
    )
    assert response.status_code == 200
    assert "3 pending actions for 2 leads will be flushed" in response.content.decode()
    assert LogEntry.objects.filter(state=EntryState.PENDING).count() == 3

    response = admin_client_.post(
        LIST,
        {"action": "flush_selected", "index": "0", "post": "yes", ACTION_CHECKBOX_NAME: selected},
        follow=True,
    )
    assert "Flushed 3 pending actions for 2 leads." in response.content.decode()
    states = dict(LogEntry.objects.values_list("pk", "state"))
    assert {states[e.pk] for e in pending} == {EntryState.FLUSHED}
    assert states[done.pk] == EntryState.SUCCEEDED


def test_flush_across_all_matching_the_filter(admin_client_, make_lead, make_workflow, make_entry):
    workflow = make_workflow()
    ada, bob = make_lead(), make_lead()
    a, b = make_entry(ada, workflow), make_entry(bob, workflow)
    admin_client_.post(
        f"{LIST}?lead={ada.pk}",
        {"action": "flush_selected", "index": "0", "select_across": "1", "post": "yes",
         ACTION_CHECKBOX_NAME: [str(a.pk)]},
    )  # fmt: skip
    assert LogEntry.objects.get(pk=a.pk).state == EntryState.FLUSHED
    assert LogEntry.objects.get(pk=b.pk).state == EntryState.PENDING


def test_run_now_makes_pending_entries_due(
    admin_client_, make_lead, make_workflow, make_entry, django_capture_on_commit_callbacks
):
    workflow = make_workflow()
    entry = make_entry(make_lead(), workflow, due_in=timedelta(days=3))
    done = make_entry(make_lead(), workflow, state=EntryState.SUCCEEDED)
    with (
        mock.patch("automation.execution.tasks.enqueue") as enqueue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = admin_client_.post(
            LIST,
            {
                "action": "run_now",
                "index": "0",
                ACTION_CHECKBOX_NAME: [str(entry.pk), str(done.pk)],
            },
            follow=True,
        )
    assert "1 pending action made due now" in response.content.decode()
    entry.refresh_from_db()
    assert entry.due_at <= timezone.now()
    enqueue.assert_called_once_with([entry.pk])


def test_the_workflow_flush_button_flushes_that_workflow_only(
    admin_client_, make_lead, make_workflow, make_entry
):
    mine, other = make_workflow(), make_workflow()
    lead = make_lead()
    a, b = make_entry(lead, mine), make_entry(lead, other)
    page = admin_client_.get(reverse("admin:automation_workflow_change", args=[mine.pk]))
    assert f"{FLUSH}?workflow={mine.pk}" in page.content.decode()
    confirm = admin_client_.get(FLUSH, {"workflow": mine.pk})
    assert "1 pending action for 1 lead will be flushed" in confirm.content.decode()
    response = admin_client_.post(FLUSH, {"workflow": mine.pk, "post": "yes"})
    assert response.status_code == 302
    assert response["Location"].endswith(
        reverse("admin:automation_workflow_change", args=[mine.pk]) + "#tab-logs"
    )
    assert LogEntry.objects.get(pk=a.pk).state == EntryState.FLUSHED
    assert LogEntry.objects.get(pk=b.pk).state == EntryState.PENDING


def test_the_logs_tab_shows_recent_entries_and_links_to_the_list(
    admin_client_, make_lead, make_workflow, make_entry
):
    workflow, lead = make_workflow(), make_lead()
    entry = make_entry(lead, workflow)
    html = admin_client_.get(
        reverse("admin:automation_workflow_change", args=[workflow.pk])
    ).content.decode()
    assert 'data-tab="logs"' in html
    assert reverse("admin:automation_logentry_change", args=[entry.pk]) in html
    assert f"{LIST}?workflow__id__exact={workflow.pk}" in html


def test_triggers_filter_by_outcome(admin_client_, make_lead, make_workflow, make_entry):
    from automation.models import Trigger

    workflow, lead = make_workflow(), make_lead()
    make_entry(lead, workflow)
    limited = Trigger.objects.create(workflow=workflow, lead_id=lead.pk, outcome="rate_limited")
    response = admin_client_.get(
        reverse("admin:automation_trigger_changelist"), {"outcome__exact": "rate_limited"}
    )
    assert ids(response) == [limited.pk]
    html = response.content.decode()
    for label in [
        "Fired",
        "Rate limited",
        "Skipped (pending actions)",
        "Not selected",
        "Stopped",
        "Loop detected",
    ]:
        assert label in html


def test_an_entry_whose_action_was_deleted_shows_so(
    admin_client_, make_lead, make_workflow, make_entry
):
    from automation.models import Action

    entry = make_entry(make_lead(), make_workflow())
    Action.objects.filter(pk=entry.action_id).delete()  # the entry keeps the id (no UPDATE)
    response = admin_client_.get(reverse("admin:automation_logentry_change", args=[entry.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "(deleted)" in html
    assert reverse("admin:automation_trigger_change", args=[entry.trigger_id]) in html


def test_a_trigger_links_to_its_entries_through_its_lead(
    admin_client_, make_lead, make_workflow, make_entry
):
    workflow, ada, bob = make_workflow(), make_lead(), make_lead(first_name="Bob")
    mine = make_entry(ada, workflow)
    make_entry(ada, workflow), make_entry(bob, workflow)
    page = reverse("admin:automation_trigger_change", args=[mine.trigger_id])
    link = f"{LIST}?lead={ada.pk}&amp;trigger__id__exact={mine.trigger_id}"
    assert link in admin_client_.get(page).content.decode()
    response = admin_client_.get(LIST, {"lead": str(ada.pk), "trigger__id__exact": mine.trigger_id})
    assert ids(response) == [mine.pk]
