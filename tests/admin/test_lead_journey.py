"""The lead's journey on its page: "why did this lead get this SMS?" in one place."""

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from automation.admin import journey
from automation.models import Action, LogEntry, Trigger
from leads.models import Call
from tests.admin.conftest import make_user

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def story(make_lead, make_workflow, statuses):
    """A call set SALE; "SMS after sale" fired and sent an SMS; "Nurture" was rate-limited."""
    lead = make_lead()
    sms = make_workflow(name="SMS after sale", actions=(("SMS", {"text": "hi"}),))
    nurture = make_workflow(name="Nurture")
    call = Call.objects.create(lead=lead, started_at=T0, disposition=statuses["SALE"], length=42)
    occurrence = {
        "lead_action": "save", "status_from": "NEW", "status_to": "SALE",
        "call": {"id": call.pk, "call_type": "outbound"}, "disposition": "SALE",
    }  # fmt: skip
    at = T0 + timedelta(seconds=30)
    fired = Trigger.objects.create(
        workflow=sms, lead_id=lead.pk, outcome="fired", occurred_at=at, occurrence=occurrence
    )
    limited = Trigger.objects.create(
        workflow=nurture, lead_id=lead.pk, outcome="rate_limited", occurred_at=at,
        reason="9 triggers in the last 180 s", occurrence=occurrence,
    )  # fmt: skip
    sent = LogEntry.objects.create(
        workflow=sms, action=Action.objects.get(action_set__workflow=sms), trigger=fired,
        lead_id=lead.pk, action_type="SMS", state="succeeded", reason="sent to +13105550000",
        due_at=at, created_at=at, finished_at=at + timedelta(seconds=2),
    )  # fmt: skip
    return lead, call, fired, limited, sent, sms


def test_it_shows_the_timeline_newest_first_with_why(admin_client_, story):
    lead, call, fired, limited, sent, sms = story
    response = admin_client_.get(reverse("admin:leads_lead_change", args=[lead.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="journey"' in html
    rows = response.context["rows"]
    assert [(r.kind, r.pk) for r in rows] == [
        ("entry", sent.pk), ("trigger", limited.pk), ("trigger", fired.pk), ("call", call.pk),
    ]  # fmt: skip
    assert "Rate limited" in html and "9 triggers in the last 180 s" in html
    assert "status NEW → SALE" in html and "disposition SALE" in html
    assert "sent to +13105550000" in html


def test_each_row_links_to_its_workflow_and_the_filtered_log(admin_client_, story):
    lead, call, fired, limited, sent, sms = story
    rows, _ = journey.page(lead.pk)
    entry = rows[0]
    urls = dict(entry.links)
    assert urls["SMS after sale"] == reverse("admin:automation_workflow_change", args=[sms.pk])
    assert urls[f"#{sent.pk}"] == reverse("admin:automation_logentry_change", args=[sent.pk])
    query = parse_qs(urlsplit(urls["log"]).query)
    assert query == {"lead": [str(lead.pk)], "workflow": [str(sms.pk)]}
    log = admin_client_.get(urls["log"])
    assert [e.pk for e in log.context["cl"].result_list] == [sent.pk]


def test_it_pages_back_without_losing_or_repeating_rows_that_share_an_instant(
    make_lead, make_workflow
):
    lead = make_lead()
    workflow = make_workflow()
    action = Action.objects.get(action_set__workflow=workflow)
    made = []
    for i in range(7):
        at = T0 + timedelta(minutes=i // 3)  # three rows of each kind share each instant
        trigger = Trigger.objects.create(
            workflow=workflow, lead_id=lead.pk, outcome="fired", occurred_at=at
        )
        entry = LogEntry.objects.create(
            workflow=workflow, action=action, trigger=trigger, lead_id=lead.pk,
            action_type=action.type, due_at=at, created_at=at,
        )  # fmt: skip
        made += [("trigger", trigger.pk), ("entry", entry.pk)]
    seen, cursor = [], None
    while True:
        rows, older = journey.page(lead.pk, journey.parse_cursor(cursor), size=4)
        seen += [(r.kind, r.pk) for r in rows]
        if older is None:
            break
        cursor = older
    assert sorted(seen) == sorted(made)
    assert len(seen) == len(set(seen))
    keys = [journey.RANK[kind] for kind, _ in seen]
    assert keys != sorted(keys)  # newest first across kinds, not one kind after the other


def test_it_stays_a_few_queries_a_page_for_a_lead_with_many_log_rows(
    admin_client_, make_lead, make_workflow
):
    lead = make_lead()
    workflow = make_workflow()
    action = Action.objects.get(action_set__workflow=workflow)
    triggers = Trigger.objects.bulk_create(
        Trigger(workflow=workflow, lead_id=lead.pk, outcome="fired",
                occurred_at=T0 + timedelta(seconds=i))
        for i in range(2000)
    )  # fmt: skip
    LogEntry.objects.bulk_create(
        LogEntry(workflow=workflow, action=action, trigger=t, lead_id=lead.pk,
                 action_type=action.type, due_at=t.occurred_at, created_at=t.occurred_at,
                 state="succeeded", finished_at=t.occurred_at)
        for t in triggers
        for _ in range(5)
    )  # fmt: skip
    with CaptureQueriesContext(connection) as queries:
        rows, older = journey.page(lead.pk)
    assert len(queries) == 3 and len(rows) == journey.PAGE and older
    with CaptureQueriesContext(connection) as queries:
        deep, _ = journey.page(lead.pk, journey.parse_cursor(older))
    assert len(queries) == 3 and deep[0].key < rows[-1].key
    url = reverse("admin:leads_lead_change", args=[lead.pk])
    first = admin_client_.get(url)
    with CaptureQueriesContext(connection) as page_queries:
        second = admin_client_.get(url, {"journey": older})
    assert second.status_code == 200 and 'class="journey-older"' in second.content.decode()
    assert second.context["rows"][0].key == deep[0].key
    # Paging costs no more queries than the first page: nothing grows with the history.
    with CaptureQueriesContext(connection) as first_queries:
        admin_client_.get(url)
    assert len(page_queries) == len(first_queries) and first.status_code == 200


def test_a_bad_cursor_shows_the_newest_page(admin_client_, story):
    lead = story[0]
    for bad in ("nonsense", "2026-03-02T09:00:00|1|x", "2026-03-02T09:00:00|1|1", "|||"):
        response = admin_client_.get(
            reverse("admin:leads_lead_change", args=[lead.pk]), {"journey": bad}
        )
        assert response.status_code == 200
        assert response.context["rows"][0].pk == story[4].pk


def test_it_is_hidden_from_users_who_may_not_read_the_log(login, story, groups):
    user = make_user("reader")
    user.user_permissions.add(Permission.objects.get(codename="view_lead"))
    response = login(user).get(reverse("admin:leads_lead_change", args=[story[0].pk]))
    assert response.status_code == 200
    assert 'id="journey"' not in response.content.decode()
