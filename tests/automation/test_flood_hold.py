"""Flood hold (SPEC C.5): past its flood_limit triggers within 60 s a workflow's further
entries are stored `held`; a notification offers Release and Flush (API and admin)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from automation.constants import EntryState
from automation.engine import flood
from automation.execution import dispatcher
from automation.models import LogEntry, Notification, Workflow
from tests.automation.engine_helpers import (  # noqa: F401
    entries,
    fresh_rules,
    handle,
    make_workflow,
    phone,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
ON_SAVE = [("LEAD_ACTION", {"values": ["save"]})]


@pytest.fixture(autouse=True)
def forget_floods():
    flood.forget()
    yield
    flood.forget()


@pytest.fixture
def fire(make_lead):
    """`fire(workflow, n, at)`: n different leads saved at `at`, each firing it once."""

    def fire_it(n, at=NOW):
        for _ in range(n):
            handle(make_lead(phone_number=phone()), lead_action="save", occurred_at=at)

    return fire_it


def held(workflow):
    return LogEntry.objects.filter(workflow=workflow, state=EntryState.HELD)


def test_it_holds_the_entries_past_the_limit_within_60_seconds(fire):
    workflow = make_workflow(ON_SAVE, flood_limit=3)
    fire(3)
    fire(2, NOW + timedelta(seconds=30))
    found = entries(workflow)
    assert [e.state for e in found] == ["pending"] * 3 + ["held"] * 2
    for entry in found[3:]:
        assert entry.lease_until is None  # never handed to a worker
        assert entry.reason.startswith("held: flood hold (more than 3 triggers within 60 s)")
    # The triggers fired all the same: a flood is what the workflow matched.
    assert workflow.triggers.filter(outcome="fired").count() == 5


def test_it_fires_normally_again_once_the_window_has_passed(fire):
    workflow = make_workflow(ON_SAVE, flood_limit=3)
    fire(4)
    fire(1, NOW + timedelta(seconds=61))
    assert [e.state for e in entries(workflow)] == ["pending"] * 3 + ["held", "pending"]


def test_it_counts_each_workflow_against_its_own_limit(fire):
    small = make_workflow(ON_SAVE, flood_limit=2)
    big = make_workflow(ON_SAVE)  # the default limit: 1,000
    assert big.flood_limit == 1000
    fire(4)
    assert held(small).count() == 2
    assert not held(big).exists()


def test_the_dispatcher_never_claims_held_entries(fire):
    workflow = make_workflow(
        ON_SAVE, flood_limit=1, delay={"delay_mode": "fixed", "delay_hours": 1}
    )
    fire(3)
    claimed = dispatcher.claim(NOW + timedelta(days=2))
    assert len(claimed) == 1
    assert held(workflow).count() == 2
    assert not set(claimed) & set(held(workflow).values_list("pk", flat=True))


def test_it_notifies_once_per_flood_and_mails_the_admins(
    fire, settings, mailoutbox, django_capture_on_commit_callbacks
):
    settings.ADMIN_EMAILS = ["ops@example.com"]
    workflow = make_workflow(ON_SAVE, name="Bad import", flood_limit=2)
    with django_capture_on_commit_callbacks(execute=True):
        fire(6)
    flood.forget()  # another process, which has not notified yet
    with django_capture_on_commit_callbacks(execute=True):
        fire(2, NOW + timedelta(seconds=5))
    [notification] = Notification.objects.filter(workflow=workflow)
    assert "fired more than 2 triggers within 60 s" in notification.message
    assert len(mailoutbox) == 1
    assert mailoutbox[0].subject == "Flood hold: Bad import"
    # Once released, the next flood is notified again.
    flood.release(workflow.pk)
    with django_capture_on_commit_callbacks(execute=True):
        fire(1, NOW + timedelta(seconds=10))
    assert Notification.objects.filter(workflow=workflow).count() == 2


@pytest.fixture
def counted(monkeypatch):
    """The counts of a workflow's fires read from the database, as they happen."""
    reads, original = [], flood.fired_in_window

    def counting(*args):
        reads.append(args)
        return original(*args)

    monkeypatch.setattr(flood, "fired_in_window", counting)
    return reads


def test_a_warm_save_under_the_limit_reads_the_count_at_most_once_a_second(fire, counted):
    make_workflow(ON_SAVE, flood_limit=100)
    fire(1)
    counted.clear()
    fire(10, NOW + timedelta(milliseconds=500))
    assert counted == []  # far below half the limit: this process's own count
    fire(1, NOW + timedelta(seconds=2))
    assert len(counted) == 1


def test_a_busy_workflow_reads_the_count_at_most_ten_times_a_second(fire, counted):
    """Above half its limit a workflow is not counted again on every fire (a range
    scan of up to `flood_limit` rows per busy workflow on every save), yet one
    process's own flood is still held exactly at the limit."""
    workflow = make_workflow(ON_SAVE, flood_limit=10)
    fire(6)  # past half the limit
    counted.clear()
    fire(3, NOW + timedelta(milliseconds=50))
    assert counted == []  # within RECHECK_NEAR of the last count
    fire(1, NOW + timedelta(milliseconds=200))
    assert len(counted) == 1
    fire(3, NOW + timedelta(milliseconds=250))  # the 11th reaches the limit: counted
    assert len(counted) == 2
    assert [e.state for e in entries(workflow)] == ["pending"] * 10 + ["held"] * 3


def test_a_flooded_workflow_is_counted_again_only_when_its_flood_can_have_ended(fire, counted):
    """While the `flood_limit` most recent fires are all in the window the workflow is
    flooded: no count is read until the oldest of them leaves it (a flood fired on
    every save was counted ten times a second), and the hold ends exactly then."""
    workflow = make_workflow(ON_SAVE, flood_limit=3)
    fire(1)
    fire(2, NOW + timedelta(seconds=20))
    fire(1, NOW + timedelta(seconds=30))  # the 4th within 60 s: held
    counted.clear()
    for second in range(31, 60, 4):
        fire(1, NOW + timedelta(seconds=second))
    assert counted == []
    assert held(workflow).count() == 9
    fire(1, NOW + timedelta(seconds=60))  # the fire at NOW has left the window…
    assert len(counted) == 1
    assert held(workflow).count() == 10  # …but 2 + 1 + 8 others are in it
    counted.clear()
    # The 3 most recent fires that count read (51, 55 and 59 s) are in the window
    # until 111 s: held without a count.
    fire(1, NOW + timedelta(seconds=81))
    assert counted == []
    assert held(workflow).count() == 11
    fire(1, NOW + timedelta(seconds=200))
    assert len(counted) == 1
    assert held(workflow).count() == 11  # the one at 200 s fired normally


# --- Release and Flush: API ------------------------------------------------------------


@pytest.fixture
def groups(db):
    from crm import groups

    groups.sync()
    from django.contrib.auth.models import Group

    return {g.name: g for g in Group.objects.all()}


@pytest.fixture
def api_as(groups):
    def make(group):
        user = User.objects.create_user(group, password="pw", is_staff=True)
        user.groups.add(groups[group])
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make


def test_the_api_releases_held_entries(fire, api_as):
    workflow = make_workflow(ON_SAVE, flood_limit=2)
    fire(5)
    viewer, operator = api_as("viewer"), api_as("operator")
    listed = operator.get(f"/api/v1/workflow-logs/?workflow={workflow.pk}&state=held")
    assert listed.status_code == 200
    assert len(listed.json()["results"]) == 3
    assert viewer.post(f"/api/v1/workflows/{workflow.pk}/release/").status_code == 403
    assert held(workflow).count() == 3
    response = operator.post(f"/api/v1/workflows/{workflow.pk}/release/")
    assert response.status_code == 200
    assert response.json() == {"released": 3}
    assert not held(workflow).exists()
    released = LogEntry.objects.filter(
        workflow=workflow, reason="released by operator (flood hold)"
    )
    assert released.count() == 3
    assert all(e.state == EntryState.PENDING for e in released)
    # Released entries are ordinary pending work: the dispatcher claims them when due.
    assert set(released.values_list("pk", flat=True)) <= set(dispatcher.claim(NOW + timedelta(1)))
    assert operator.post("/api/v1/workflows/999999/release/").status_code == 404


def test_the_api_flushes_held_entries(fire, api_as):
    workflow = make_workflow(ON_SAVE, flood_limit=2)
    fire(4)
    response = api_as("operator").post(f"/api/v1/workflows/{workflow.pk}/flush/")
    assert response.json() == {"flushed": 2}
    assert LogEntry.objects.filter(workflow=workflow, state=EntryState.FLUSHED).count() == 2
    assert LogEntry.objects.filter(workflow=workflow, state=EntryState.PENDING).count() == 2


def test_the_document_carries_the_flood_limit(api_as, statuses):
    operator = api_as("operator")
    workflow = make_workflow(ON_SAVE)
    document = operator.get(f"/api/v1/workflows/{workflow.pk}/").json()
    assert document["flood_limit"] == 1000
    changed = operator.patch(
        f"/api/v1/workflows/{workflow.pk}/", {"flood_limit": 50}, format="json"
    )
    assert changed.status_code == 200, changed.json()
    assert Workflow.objects.get(pk=workflow.pk).flood_limit == 50
    for bad in (0, -5, "many", 2_000_000):
        refused = operator.patch(
            f"/api/v1/workflows/{workflow.pk}/", {"flood_limit": bad}, format="json"
        )
        assert refused.status_code == 400
        assert "flood_limit" in refused.json()
    assert Workflow.objects.get(pk=workflow.pk).flood_limit == 50


# --- Release and Flush: admin -----------------------------------------------------------


@pytest.fixture
def admin_as(groups):
    def make(group):
        user = User.objects.create_user(f"{group}-admin", password="pw", is_staff=True)
        user.groups.add(groups[group])
        client = Client()
        client.force_login(user)
        return client

    return make


def test_the_admin_action_releases_after_a_confirmation(fire, admin_as):
    workflow = make_workflow(ON_SAVE, name="Bad import", flood_limit=1)
    fire(4)
    client = admin_as("operator")
    url = "/admin/automation/workflow/"
    asked = client.post(url, {"action": "release_held", "_selected_action": [workflow.pk]})
    assert asked.status_code == 200
    page = asked.content.decode()
    assert "Release 3 held entries?" in page
    assert held(workflow).count() == 3  # nothing done yet
    done = client.post(
        url, {"action": "release_held", "_selected_action": [workflow.pk], "post": "yes"}
    )
    assert done.status_code == 302
    assert not held(workflow).exists()
    assert LogEntry.objects.filter(workflow=workflow, state=EntryState.PENDING).count() == 4


def test_the_admin_flushes_one_workflow_from_its_page(fire, admin_as):
    workflow = make_workflow(ON_SAVE, flood_limit=1)
    fire(3)
    client, viewer = admin_as("operator"), admin_as("viewer")
    page = client.get(f"/admin/automation/workflow/{workflow.pk}/change/").content.decode()
    assert 'class="held-count">2<' in page
    url = f"/admin/automation/workflow/{workflow.pk}/held/flush/"
    assert viewer.get(url).status_code == 403
    confirm = client.get(url)
    assert "Flush 2 held entries?" in confirm.content.decode()
    assert held(workflow).count() == 2
    done = client.post(url, {"post": "yes"})
    assert done.status_code == 302
    assert LogEntry.objects.filter(workflow=workflow, state=EntryState.FLUSHED).count() == 2
    assert viewer.post(url, {"post": "yes"}).status_code == 403


def test_the_admin_log_filters_held_entries(fire, admin_as):
    workflow = make_workflow(ON_SAVE, flood_limit=1)
    fire(2)
    page = admin_as("operator").get("/admin/automation/logentry/?state__exact=held")
    assert page.status_code == 200
    html = page.content.decode()
    [entry] = held(workflow)
    assert f"/admin/automation/logentry/{entry.pk}/change/" in html
