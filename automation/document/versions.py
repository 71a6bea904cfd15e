"""Workflow versions (SPEC C.2): every change stores the whole document.

A version is the workflow's document as the API shows it (SPEC Appendix A,
with the `id` of every event, action set and action), numbered 1, 2, 3… per
workflow, with when, who, through what (`source`) and a one-line summary of
what changed since the version before. The nested document is the unit: a
version is one row holding it (automation.models.WorkflowVersion), which is
why neither django-reversion nor django-simple-history is used (they version
rows one model at a time, and a workflow is four models and five relations).

`record(workflow, document, source, user)` stores the next version unless the
document equals the latest one: a save that changed nothing stores nothing.
The workflow's `version` is the number of its latest; the rule index carries
it, so each trigger and log entry records the version it was created under.
"""

from django.db import transaction
from django.utils import timezone

from automation.constants import EntryState
from automation.document import store
from automation.models import LogEntry, Workflow, WorkflowVersion

# What a document's items are, for the summary: key → (singular, plural).
NOUNS = {
    "events": ("event", "events"),
    "action_sets": ("action set", "action sets"),
    "actions": ("action", "actions"),
}
LISTS = ("events", "action_sets")


def items(doc, kind):
    """{id: item} of one kind of a document's items. An action carries the id of its set
    (moving it is a change); a set leaves its actions out (they are counted as actions)."""
    if kind == "events":
        rows = [(e.get("id"), e) for e in doc.get("events", [])]
    elif kind == "action_sets":
        rows = [
            (s.get("id"), {k: v for k, v in s.items() if k != "actions"})
            for s in doc.get("action_sets", [])
        ]
    else:
        rows = [
            (a.get("id"), {**a, "in_set": s.get("id")})
            for s in doc.get("action_sets", [])
            for a in s.get("actions", [])
        ]
    # An item without an id (not stored yet) is new: a key no other item has.
    return {pk if pk is not None else ("new", i): item for i, (pk, item) in enumerate(rows)}


def action_ids(doc):
    return {pk for pk in items(doc, "actions") if isinstance(pk, int)}


def count(n, kind):
    singular, plural = NOUNS[kind]
    return f"{n} {singular if n == 1 else plural}"


def summarize(old, new):
    """What changed from document `old` to `new`, in a line:
    "changed description; added 1 action; removed 1 action set"."""
    parts = []
    settings = sorted(
        key
        for key in set(old) | set(new)
        if key not in LISTS and not store.same(old.get(key), new.get(key))
    )
    if settings:
        parts.append(f"changed {', '.join(settings)}")
    for kind in NOUNS:
        before, after = items(old, kind), items(new, kind)
        added = len(after.keys() - before.keys())
        removed = len(before.keys() - after.keys())
        changed = sum(
            1 for pk in before.keys() & after.keys() if not store.same(before[pk], after[pk])
        )
        for verb, n in (("added", added), ("removed", removed), ("changed", changed)):
            if n:
                parts.append(f"{verb} {count(n, kind)}")
    return "; ".join(parts) or "no change"


def orphaned(workflow, document):
    """The actions its pending and held entries name that `document` does not hold."""
    unexecuted = LogEntry.objects.filter(
        workflow_id=workflow.pk, state__in=(EntryState.PENDING, EntryState.HELD)
    )
    named = set(unexecuted.values_list("action_id", flat=True).distinct())
    return named - action_ids(document)


def latest(workflow):
    return workflow.versions.order_by("-number").first()


@transaction.atomic
def record(workflow, document, source, user=None, summary="", now=None, cancel_removed=True):
    """Store `document` as the workflow's next version, unless it equals the latest.
    Returns the new WorkflowVersion, or None.

    1. The workflow's row is locked (edits of one workflow number their versions
       one at a time).
    2. Equal to the latest version: nothing is stored.
    3. `cancel_removed`: the pending and held entries of the actions the latest
       version had and this one has not are cancelled, "removed from the workflow
       in version N" (the admin saves rows one by one; the document store
       cancels its own removals as it writes them). A workflow without a version
       yet (made before versions were kept): those of actions it no longer has.
    4. The version, and the workflow's `version` number.
    """
    now = now or timezone.now()
    list(Workflow.objects.select_for_update(no_key=True).filter(pk=workflow.pk).values_list("pk"))
    previous = latest(workflow)
    if previous is not None and store.same(previous.document, document):
        return None
    number = max(previous.number if previous else 0, workflow.version) + 1
    if previous is None:
        if cancel_removed:  # a workflow older than its versions: what its entries name
            store.cancel_removed(workflow.pk, orphaned(workflow, document), number, now)
        text = summary or "created"
    else:
        if cancel_removed:
            removed = action_ids(previous.document) - action_ids(document)
            store.cancel_removed(workflow.pk, removed, number, now)
        what = summarize(previous.document, document)
        text = f"{summary}: {what}" if summary else what
    version = WorkflowVersion.objects.create(
        workflow=workflow,
        number=number,
        created_at=now,
        user=user if user is not None and user.is_authenticated else None,
        source=source,
        summary=text[:500],
        document=document,
    )
    Workflow.objects.filter(pk=workflow.pk).update(version=number)
    workflow.version = number
    return version


def surviving_ids(doc, owned):
    """`doc` (a stored version's document, changed in place) with the ids of the items
    the workflow no longer has left out: those are created again, the others are
    updated in place (their pending entries run with the restored config)."""
    for event in doc.get("events", []):
        if event.get("id") not in owned["events"]:
            event.pop("id", None)
    for action_set in doc.get("action_sets", []):
        if action_set.get("id") not in owned["action_sets"]:
            action_set.pop("id", None)
        for action in action_set.get("actions", []):
            if action.get("id") not in owned["actions"]:
                action.pop("id", None)
    return doc
