"""A cleaned workflow document becomes rows: in place, by id (SPEC C.2).

An event, action set or action of the document that carries the `id` of one
of the workflow's rows updates that row, only when something of it changed;
one without an id is created; a row the document no longer lists is removed,
and the pending (and flood-held) entries of a removed action are cancelled,
so that none of them later ends "skipped: the action was deleted". A document
equal to what is stored writes nothing at all: no row, no rule-index bump.

`owned(workflow)` gives the ids a document may name (the validation checks
them, automation.document.document); `write(workflow, cleaned)` applies it.
"""

import json

from django.utils import timezone

from automation.constants import EntryState
from automation.document import references
from automation.models import Action, ActionSet, EventCondition, LogEntry, Workflow

# The workflow's own settings, as the cleaned document names them.
SETTINGS = (
    "name", "description", "active", "relation", "relation_mode", "all_campaigns",
    "stop_if", "stop_filter", "skip_if_pending", "perform_action_on", "reenrollment",
    "reenroll_after_days", "flood_limit",
)  # fmt: skip
SCHEDULE = {"schedule_enabled": "enabled", "schedule_window": "window", "schedule_days": "days"}
DELAY = {
    "delay_mode": "mode",
    "delay_days": "days",
    "delay_hours": "hours",
    "delay_minutes": "minutes",
    "delay_field": "field",
    "delay_direction": "direction",
}


def removed_reason(version):
    """The reason of an entry cancelled because its action left the workflow (SPEC C.2)."""
    return f"removed from the workflow in version {version}"


def cancel_removed(workflow_id, action_ids, version, now=None):
    """The pending (and flood-held) entries of actions removed from the workflow by
    `version` → cancelled, naming it. Returns how many."""
    if not action_ids:
        return 0
    return LogEntry.objects.filter(workflow_id=workflow_id, action_id__in=action_ids).cancel(
        removed_reason(version), now, states=(EntryState.PENDING, EntryState.HELD)
    )


def owned(workflow):
    """{"events" | "action_sets" | "actions": {id: type or None}}: the rows of `workflow`
    a document may name by id (none for a workflow not saved yet)."""
    if workflow is None or workflow.pk is None:
        return {"events": {}, "action_sets": {}, "actions": {}}
    return {
        "events": dict(workflow.events.values_list("pk", "type")),
        "action_sets": {pk: None for pk in workflow.action_sets.values_list("pk", flat=True)},
        "actions": dict(
            Action.objects.filter(action_set__workflow=workflow).values_list("pk", "type")
        ),
    }


def same(a, b):
    """Equal as stored JSON (1 and True, 1 and 1.0 differ)."""
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def changes(row, values):
    """The values of `values` that differ from `row`'s."""
    return {name: value for name, value in values.items() if not same(getattr(row, name), value)}


def write(workflow, cleaned, now=None):
    """Apply a cleaned document to `workflow` (new or stored). Returns whether anything changed.

    1. The settings of a new workflow are saved first (its rows need its id).
    2. Relations: set only when the objects differ.
    3. Events, action sets, actions: update by id what changed, create what
       has no id, delete what is no longer listed (actions before their sets,
       so an action moved to another set survives the removal of its old one).
    4. Pending and held entries of the removed actions → cancelled, naming the
       version this change is stored as (the workflow's next: automation.document.versions).
    5. A stored workflow's settings saved when they, or its rows, changed
       (`modified_at` moves); the rule index bumped once.
    """
    now = now or timezone.now()
    values = {name: cleaned[name] for name in SETTINGS}
    values.update({field: cleaned["schedule"][key] for field, key in SCHEDULE.items()})
    if values["active"] and workflow.disabled_reason:
        values["disabled_reason"] = ""
    new = workflow.pk is None
    settings = changes(workflow, values)
    for name, value in settings.items():
        setattr(workflow, name, value)
    if new:
        workflow.save()
    changed = write_relations(workflow, cleaned["relation_objects"])
    changed |= write_events(workflow, cleaned["events"])
    removed = write_action_sets(workflow, cleaned["action_sets"])
    changed |= removed is not None
    cancel_removed(workflow.pk, removed, workflow.version + 1, now)
    if not new and (settings or changed):
        workflow.save(update_fields=[*settings, "modified_at"])
    if new or settings or changed:
        from automation.engine import rules

        references.sync(workflow)
        rules.bump(workflow_ids=[workflow.pk])
    return bool(new or settings or changed)


def write_relations(workflow, objects):
    changed = False
    for relation, attr in Workflow.RELATION_FIELDS.items():
        wanted = objects if relation == workflow.relation else []
        manager = getattr(workflow, attr)
        current = set(manager.values_list("pk", flat=True))
        if current != {o.pk for o in wanted}:
            manager.set(wanted)
            changed = True
    return changed


def write_rows(model, existing, items, values_of):
    """Update, create and (return the ids to) remove rows of one kind.

    `existing`: {id: row}; `items`: cleaned items with an `id` or None;
    `values_of(i, item)`: the row's values. Returns ([row per item], changed, removed ids).
    """
    existing = dict(existing)
    rows, changed, created = [], False, []
    for i, item in enumerate(items):
        values = values_of(i, item)
        row = existing.pop(item["id"], None) if item.get("id") is not None else None
        if row is None:
            row = model(**values)
            created.append(row)
        elif diff := changes(row, values):
            model.objects.filter(pk=row.pk).update(**diff)
            for name, value in diff.items():
                setattr(row, name, value)
            changed = True
        rows.append(row)
    if created:
        model.objects.bulk_create(created)  # sets their ids (SQLite and PostgreSQL)
    return rows, changed or bool(created), list(existing)


def write_events(workflow, items):
    def values_of(i, e):
        return {
            "workflow_id": workflow.pk,
            "type": e["type"],
            "config": e["config"],
            "active": e["active"],
            "position": i,
        }

    _, changed, removed = write_rows(
        EventCondition, {e.pk: e for e in workflow.events.all()}, items, values_of
    )
    if removed:
        EventCondition.objects.filter(pk__in=removed).delete()
    return changed or bool(removed)


def write_action_sets(workflow, items):
    """Action sets and their actions. Returns the ids of the actions removed
    ([] if none), or None when nothing at all changed."""

    def set_values(i, s):
        delay = s["delay"]
        return {
            "workflow_id": workflow.pk,
            "position": i,
            "window": s["window"],
            **{field: delay[key] for field, key in DELAY.items()},
        }

    sets, changed, removed_sets = write_rows(
        ActionSet, {s.pk: s for s in workflow.action_sets.all()}, items, set_values
    )
    actions = [
        {**a, "action_set_id": row.pk}
        for row, s in zip(sets, items, strict=True)
        for a in s["actions"]
    ]
    positions = {}

    def action_values(_, a):
        position = positions[a["action_set_id"]] = positions.get(a["action_set_id"], -1) + 1
        return {
            "action_set_id": a["action_set_id"],
            "type": a["type"],
            "config": a["config"],
            "active": a["active"],
            "skip_if_live_call": a["skip_if_live_call"],
            "position": position,
        }

    existing = Action.objects.filter(action_set__workflow=workflow)
    _, actions_changed, removed = write_rows(
        Action, {a.pk: a for a in existing}, actions, action_values
    )
    if removed:
        Action.objects.filter(pk__in=removed).delete()
    if removed_sets:
        ActionSet.objects.filter(pk__in=removed_sets).delete()
    if not (changed or actions_changed or removed or removed_sets):
        return None
    return removed
