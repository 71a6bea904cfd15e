"""SPEC C.2 as a property: whatever sequence of edits a workflow goes through, no
pending entry ever ends skipped because its action was deleted.

Each example builds a workflow through the API, then applies random steps:
fire it on a new lead (entries pending, due an hour or more later), add,
remove or change actions and action sets (PUT or PATCH of `action_sets`),
PATCH the description, PUT the unchanged document, restore a stored version
(POST versions/{n}/restore/), and run the pending entries (the real runner, a
day later). Every entry run must have run with its action's config *of that
moment*; every other one is cancelled "removed from the workflow in version N"
by the version that removed its action. Every trigger and entry records a
version that is stored, and no unchanged PUT stores one. Each example rolls
back (a savepoint) so the next starts clean.
"""

import copy
import itertools
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from automation.engine import rules
from automation.execution import runner
from automation.models import LogEntry, Trigger, WorkflowVersion
from leads.models import Call, CustomField, Lead

EDITS = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,  # the same sequences every run: a failure reproduces
    database=None,
    suppress_health_check=list(HealthCheck),
)
STEPS = [
    "fire",
    "fire",  # twice as likely: entries to edit under
    "add_action",
    "remove_action",
    "change_action",
    "add_set",
    "remove_set",
    "patch_description",
    "put_unchanged",
    "restore",
    "run",
]
_fields = itertools.count(1)


def field_action(value="v0"):
    name = f"f{next(_fields)}"
    CustomField.objects.get_or_create(name=name, defaults={"label": name})  # declared (C.2)
    return {"type": "FIELD", "config": {"field": f"custom.{name}", "op": "set", "value": value}}


def new_set(hours):
    return {"delay": {"mode": "fixed", "hours": hours}, "actions": [field_action()]}


BASE = {
    "name": "Edited all the time",
    "relation": "campaign",
    "relation_objects": ["Solar Q4"],
    "events": [{"type": "DISPOSITION", "values": ["SALE"]}],
}


def same_items(current, stored):
    """The workflow now equals a stored version's document, but for the ids of the items
    the version had that were gone at the restore (created again, with new ids)."""

    def shape(doc):
        return [
            [{k: v for k, v in a.items() if k != "id"} for a in s["actions"]]
            for s in doc["action_sets"]
        ]

    return shape(current) == shape(stored) and current["description"] == stored["description"]


class World:
    """The workflow through the API, and what its actions are configured to do now."""

    def __init__(self, api, make_lead, statuses):
        self.api, self.make_lead, self.sale = api, make_lead, statuses["SALE"]
        doc = {**copy.deepcopy(BASE), "action_sets": [new_set(1)]}
        response = api.post("/api/v1/workflows/", doc, format="json")
        assert response.status_code == 201, response.json()
        self.url = f"/api/v1/workflows/{response.json()['id']}/"
        self.remember(response)
        self.ran = 0

    def remember(self, response):
        assert response.status_code == 200 or response.status_code == 201, response.json()
        self.doc = {k: v for k, v in response.json().items() if k != "warnings"}
        self.configs = {a["id"]: a["config"] for s in self.doc["action_sets"] for a in s["actions"]}

    def actions(self):
        return [(s, a) for s in self.doc["action_sets"] for a in s["actions"]]

    def put(self, doc):
        self.remember(self.api.put(self.url, doc, format="json"))

    def patch(self, body):
        self.remember(self.api.patch(self.url, body, format="json"))

    def step(self, name, n):
        doc = copy.deepcopy(self.doc)
        sets, actions = doc["action_sets"], self.actions()
        if name == "fire":
            Call.record(lead=self.make_lead(), disposition=self.sale)
        elif name == "add_action" and sets:
            sets[n % len(sets)]["actions"].append(field_action())
            self.put(doc)
        elif name == "remove_action" and actions:
            s, a = actions[n % len(actions)]
            i = self.doc["action_sets"].index(s)
            sets[i]["actions"] = [x for x in sets[i]["actions"] if x["id"] != a["id"]]
            self.put(doc) if n % 2 else self.patch({"action_sets": sets})
        elif name == "change_action" and actions:
            _, a = actions[n % len(actions)]
            for s in sets:
                for x in s["actions"]:
                    if x["id"] == a["id"]:
                        x["config"]["value"] = f"v{n}"
            self.put(doc) if n % 2 else self.patch({"action_sets": sets})
        elif name == "add_set":
            sets.append(new_set(1 + n % 3))
            self.put(doc) if n % 2 else self.patch({"action_sets": sets})
        elif name == "remove_set" and sets:
            del sets[n % len(sets)]
            self.put(doc) if n % 2 else self.patch({"action_sets": sets})
        elif name == "patch_description":
            self.patch({"description": f"edit {n}"})
        elif name == "put_unchanged":
            before = self.doc["version"]
            self.put(doc)
            assert self.doc["version"] == before  # nothing changed: no version
        elif name == "restore":
            number = 1 + n % self.doc["version"]
            self.remember(self.api.post(f"{self.url}versions/{number}/restore/"))
            version = self.api.get(f"{self.url}versions/{number}/").json()
            assert same_items(self.doc, version["document"])
        elif name == "run":
            self.run()
        self.check_pending()

    def check_versions(self):
        """Every trigger and entry names a stored version; every cancellation for a
        removed action names a stored version after the entry's own."""
        stored = set(WorkflowVersion.objects.values_list("number", flat=True))
        assert set(Trigger.objects.values_list("version", flat=True)) <= stored
        for version, reason in LogEntry.objects.values_list("version", "reason"):
            assert version in stored, (version, stored)
            if reason:
                removed_in = int(reason.removeprefix("removed from the workflow in version "))
                assert version < removed_in and removed_in in stored, (version, reason)

    def check_pending(self):
        """Every pending entry belongs to an action of the workflow as it is now."""
        pending = set(LogEntry.objects.filter(state="pending").values_list("action_id", flat=True))
        assert pending <= set(self.configs), (pending, self.configs)

    def run(self):
        """Run what is pending a day later: each entry with its action's config now."""
        later = timezone.now() + timedelta(days=1)
        entries = list(LogEntry.objects.filter(state="pending"))
        for entry in entries:
            runner.run_entry(entry.pk, now=later)
        leads = Lead.objects.in_bulk({e.lead_id for e in entries})
        for entry in entries:
            entry.refresh_from_db()
            assert (entry.state, entry.reason) == ("succeeded", ""), (entry.state, entry.reason)
            config = self.configs[entry.action_id]
            field = config["field"].removeprefix("custom.")
            assert leads[entry.lead_id].custom_fields[field] == config["value"]
        self.ran += len(entries)


def test_no_pending_entry_ever_ends_skipped_for_a_deleted_action(
    api, campaign, lead_list, statuses, make_lead
):
    totals = {"steps": 0, "ran": 0, "cancelled": 0, "restored": 0}

    @EDITS
    @given(
        steps=st.lists(
            st.tuples(st.sampled_from(STEPS), st.integers(0, 1000)), min_size=5, max_size=25
        )
    )
    def edits(steps):
        rules.invalidate()
        with transaction.atomic():
            world = World(api, make_lead, statuses)
            for name, n in [*steps, ("run", 0)]:
                world.step(name, n)
            world.check_versions()
            outcomes = {
                (state, reason.startswith("removed from the workflow in version "))
                for state, reason in LogEntry.objects.values_list("state", "reason")
            }
            assert outcomes <= {("succeeded", False), ("cancelled", True)}, outcomes
            totals["steps"] += len(steps) + 1
            totals["ran"] += world.ran
            totals["cancelled"] += LogEntry.objects.filter(state="cancelled").count()
            totals["restored"] += WorkflowVersion.objects.filter(source="restore").count()
            transaction.set_rollback(True)

    edits()
    # The property was exercised, not vacuous: hundreds of steps, entries of both fates.
    assert totals["steps"] >= 200, totals
    assert totals["ran"] > 50 and totals["cancelled"] > 10, totals
    assert totals["restored"] > 10, totals  # restores that changed the workflow
