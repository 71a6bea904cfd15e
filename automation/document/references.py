"""A workflow's uses of named objects as WorkflowReference rows (automation.models.references).

`sync(workflow)` rebuilds them from what is stored: the ids in its conditions'
and actions' configs (the Ref fields of their schemas) and its relation objects.
Every writer of a workflow calls it after writing (the document's store, the admin).
"""

from django.apps import apps

from automation.engine import events
from automation.execution import actions
from automation.models import Action, EventCondition, Workflow, WorkflowReference

RELATION_MODELS = {
    "campaigns": "leads.Campaign",
    "lists": "leads.List",
    "queues": "leads.Queue",
    "inbound_numbers": "leads.InboundNumber",
    "email_templates": "leads.EmailTemplate",
}


def uses(workflow):
    """[(model label, id, path)] of everything `workflow` refers to."""
    found = []
    for i, event in enumerate(workflow.events.all()):
        spec = events.EVENTS.get(event.type)
        for ref, ids in spec.schema.references(event.config) if spec else ():
            found += [(ref.model_path, pk, f"events[{i}]") for pk in ids]
    sets = {}
    for action in Action.objects.filter(action_set__workflow=workflow).order_by(
        "action_set__position", "action_set_id", "position", "pk"
    ):
        s = sets.setdefault(action.action_set_id, [len(sets), 0])
        executor = actions.EXECUTORS.get(action.type)
        for ref, ids in executor.schema.references(action.config) if executor else ():
            path = f"action_sets[{s[0]}].actions[{s[1]}] ({action.type})"
            found += [(ref.model_path, pk, path) for pk in ids]
        s[1] += 1
    for attr, label in RELATION_MODELS.items():
        if Workflow.RELATION_FIELDS[workflow.relation] == attr:
            pks = getattr(workflow, attr).values_list("pk", flat=True)
            found += [(label, pk, "relation_objects") for pk in pks]
    return found


def sync(workflow):
    """Rebuild `workflow`'s WorkflowReference rows from what it stores now."""
    found = uses(workflow)
    # Only objects that exist: a hand-written row naming a missing one is reported by
    # the validation and the runner, and must not break the write's commit here.
    existing = {}
    for label in {label for label, _, _ in found}:
        model = apps.get_model(label)
        pks = {pk for other, pk, _ in found if other == label}
        existing[label] = set(model.objects.filter(pk__in=pks).values_list("pk", flat=True))
    wanted = {
        (WorkflowReference.COLUMNS[label] + "_id", pk, path)
        for label, pk, path in found
        if pk in existing[label]
    }
    columns = [column + "_id" for column in WorkflowReference.COLUMNS.values()]
    current = {}
    for row in WorkflowReference.objects.filter(workflow=workflow):
        for column in columns:
            if getattr(row, column) is not None:
                current[(column, getattr(row, column), row.path)] = row.pk
    stale = [pk for key, pk in current.items() if key not in wanted]
    if stale:
        WorkflowReference.objects.filter(pk__in=stale).delete()
    WorkflowReference.objects.bulk_create(
        [
            WorkflowReference(workflow=workflow, path=path, **{column: pk})
            for column, pk, path in wanted
            if (column, pk, path) not in current
        ]
    )


def saved(sender, instance, raw=False, **kwargs):
    """post_save of an EventCondition or Action: record its workflow's uses again."""
    if raw:
        return  # loaddata: the rows of the fixture come as they are
    workflow = instance.workflow if sender is EventCondition else instance.action_set.workflow
    sync(workflow)
