"""What happens to a whole workflow (SPEC C.2): restore a version, clone, archive,
unarchive, purge, and the version of an admin save. The API and the admin call
these; each change goes through the document store and stores a version.
"""

import copy
import itertools

from django.db import transaction
from django.utils import timezone

from automation.constants import EntryState, VersionSource
from automation.document import document, store, versions
from automation.models import LogEntry, Workflow

ARCHIVED_REASON = "workflow archived"


@transaction.atomic
def saved_in_admin(workflow, user):
    """The admin saved a workflow's rows one by one (its page, or an action set's):
    store the version, cancelling the entries of the actions it removed."""
    doc = document.export(workflow, ids=True)
    return versions.record(workflow, doc, VersionSource.ADMIN, user)


def restore(workflow, version, user=None):
    """A new version equal to `version` (a WorkflowVersion of `workflow`), through the
    store as a PUT: the items still there keep their ids (their pending entries run
    with the restored config), those gone are created again, those the version did
    not have are removed (their pending entries cancelled). Equal to the current
    document already: nothing is stored. Raises ConfigError (e.g. its name is taken)."""
    doc = versions.surviving_ids(copy.deepcopy(version.document), store.owned(workflow))
    summary = f"restored version {version.number}"
    return document.save(doc, workflow, source=VersionSource.RESTORE, user=user, summary=summary)


def copy_name(name):
    """'Copy of <name>', or 'Copy of <name> (2)', (3)… when taken (within the name's 200)."""
    base = f"Copy of {name}"
    for n in itertools.count(1):
        suffix = f" ({n})" if n > 1 else ""
        candidate = base[: 200 - len(suffix)] + suffix
        if not Workflow.objects.filter(name=candidate).exists():
            return candidate


def clone(workflow, source, user=None):
    """A new inactive workflow with the same settings, events, action sets and actions
    (new rows, new ids), named 'Copy of …'; its version 1 says where it came from."""
    doc = document.export(workflow)  # without ids: every item is created
    doc.update(name=copy_name(workflow.name), active=False)
    summary = f"copied from “{workflow.name}” (version {workflow.version})"
    return document.save(doc, source=source, user=user, summary=summary)


@transaction.atomic
def archive(workflow, source, user=None, now=None):
    """Archive instead of delete: inactive (out of the rule index), out of the default
    lists, its pending and held entries cancelled ("workflow archived"); its triggers,
    log and versions stay. Returns how many entries were cancelled."""
    now = now or timezone.now()
    locked = Workflow.objects.select_for_update(no_key=True).filter(pk=workflow.pk)
    list(locked.values_list("pk"))
    workflow.refresh_from_db()
    if workflow.archived:
        return 0
    was_active = workflow.active
    workflow.archived_at, workflow.active = now, False
    workflow.save(update_fields=["archived_at", "active", "modified_at"])  # bumps the rules
    cancelled = LogEntry.objects.filter(workflow_id=workflow.pk).cancel(
        ARCHIVED_REASON, now, states=(EntryState.PENDING, EntryState.HELD)
    )
    if was_active:  # its document changed: active → false
        versions.record(
            workflow, document.export(workflow, ids=True), source, user, "archived", now
        )
    return cancelled


@transaction.atomic
def unarchive(workflow):
    """Back from the archive, inactive: an operator turns it on when it is ready."""
    workflow.refresh_from_db()
    if not workflow.archived:
        return False
    workflow.archived_at, workflow.active = None, False
    workflow.save(update_fields=["archived_at", "active", "modified_at"])
    return True


@transaction.atomic
def purge(workflow):
    """Erase a workflow with its triggers, log entries, versions and notifications
    (the permission automation.purge_workflow). Its log goes first, with its row
    locked (automation.engine.records.lock_for_deletion, on pre_delete)."""
    workflow.delete()
