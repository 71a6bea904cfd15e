"""A workflow's lifecycle in the admin (SPEC C.2): its History (versions, a diff
between any two, Restore), Duplicate, archive instead of delete, Unarchive, and
Purge for those allowed to erase.

Views are thin: they check a permission and call automation.document.lifecycle,
the same functions the API calls.
"""

import difflib
import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.safestring import mark_safe

from automation.admin.views import object_or_404
from automation.constants import EntryState, VersionSource
from automation.document import lifecycle
from automation.document.schema import ConfigError
from automation.models import LogEntry, Workflow
from crm.validation import Invalid, parse_id

PURGE_PERMISSION = "automation.purge_workflow"


def may_restore(request):
    """Restoring is an edit: operators may, viewers may not (SPEC C.2)."""
    return request.user.has_perm("automation.change_workflow")


def pretty(doc):
    return json.dumps(doc, indent=2, ensure_ascii=False).splitlines() if doc is not None else []


def diff_table(old, new, old_label, new_label):
    """The two documents, pretty-printed, side by side: the changed lines and three
    lines around each (difflib's HTML table: every value in it is escaped)."""
    table = difflib.HtmlDiff(wrapcolumn=70).make_table(
        pretty(old), pretty(new), old_label, new_label, context=True, numlines=3
    )
    return mark_safe(table)  # noqa: S308 (HtmlDiff escapes the lines it shows)


def chosen(params, name, numbers, default):
    """The version number a query parameter picks (?a=, ?b=), if it is one of `numbers`."""
    try:
        value = parse_id(params.get(name, ""), name) if params.get(name) else default
    except Invalid:
        return default
    return value if value in numbers else default


def history_view(model_admin, request, object_id, extra_context=None):
    """The workflow's versions, newest first, and the diff of two of them (?a=&b=; by
    default the latest against the one before). Restore buttons for operators."""
    workflow = object_or_404(Workflow, object_id)
    if not model_admin.has_view_permission(request, workflow):
        raise PermissionDenied
    rows = list(workflow.versions.select_related("user").order_by("-number"))
    by_number = {v.number: v for v in rows}
    newest = rows[0].number if rows else None
    b = chosen(request.GET, "b", by_number, newest)
    a = chosen(request.GET, "a", by_number, rows[1].number if len(rows) > 1 else None)
    diff = None
    if b is not None:
        old = by_number[a].document if a is not None else None
        diff = diff_table(
            old,
            by_number[b].document,
            f"version {a}" if a is not None else "(nothing)",
            f"version {b}",
        )
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": Workflow._meta,
        "object": workflow,
        "original": workflow,
        "title": f"History of “{workflow}”",
        "versions": rows,
        "a": a,
        "b": b,
        "diff": diff,
        "can_restore": may_restore(request) and not workflow.archived,
        **(extra_context or {}),
    }
    return TemplateResponse(request, "admin/automation/workflow/history.html", context)


def restore_view(model_admin, request, object_id, number):
    """POST: a new version equal to version `number` (automation.document.lifecycle.restore)."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    workflow = object_or_404(Workflow, object_id)
    if not may_restore(request):
        raise PermissionDenied
    history = reverse("admin:automation_workflow_history", args=[workflow.pk])
    version = workflow.versions.filter(number=number).first()
    if version is None:
        model_admin.message_user(request, f"There is no version {number}.", messages.ERROR)
        return HttpResponseRedirect(history)
    before = workflow.version
    try:
        lifecycle.restore(workflow, version, request.user)
    except ConfigError as exc:
        problems = "; ".join(f"{path}: {message}" for path, message in exc.errors.items())
        model_admin.message_user(
            request, f"Version {number} could not be restored: {problems}", messages.ERROR
        )
        return HttpResponseRedirect(history)
    if workflow.version == before:
        text, level = (
            f"The workflow already is as version {number}: nothing changed.",
            messages.INFO,
        )
    else:
        text, level = f"Restored version {number} as version {workflow.version}.", messages.SUCCESS
    model_admin.message_user(request, text, level)
    return HttpResponseRedirect(history)


def duplicate_view(model_admin, request, object_id):
    """POST: a new inactive copy ("Copy of …"), then its page."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    workflow = object_or_404(Workflow, object_id)
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    try:
        copy = lifecycle.clone(workflow, VersionSource.ADMIN, request.user)
    except ConfigError as exc:
        problems = "; ".join(f"{path}: {message}" for path, message in exc.errors.items())
        model_admin.message_user(request, f"Could not duplicate: {problems}", messages.ERROR)
        return HttpResponseRedirect(reverse("admin:automation_workflow_change", args=[workflow.pk]))
    model_admin.message_user(
        request, f"“{copy}” is a copy of “{workflow}”; it is inactive.", messages.SUCCESS
    )
    return HttpResponseRedirect(reverse("admin:automation_workflow_change", args=[copy.pk]))


def may_unarchive(request):
    return request.user.has_perm("automation.change_workflow")


def unarchive_view(model_admin, request, object_id):
    """POST: back from the archive, inactive."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    workflow = object_or_404(Workflow, object_id)
    if not may_unarchive(request):
        raise PermissionDenied
    lifecycle.unarchive(workflow)
    model_admin.message_user(
        request, f"“{workflow}” is back from the archive, inactive.", messages.SUCCESS
    )
    return HttpResponseRedirect(reverse("admin:automation_workflow_change", args=[workflow.pk]))


# --- The list: archived or not, and the actions on them -----------------------------------


class ArchivedFilter(admin.SimpleListFilter):
    """Archived workflows are left out of the list unless asked for (?archived=yes|all)."""

    title = "archived"
    parameter_name = "archived"

    def lookups(self, request, model_admin):
        return [("no", "Not archived"), ("yes", "Archived"), ("all", "All")]

    def choices(self, changelist):
        current = self.value() or "no"
        for value, label in self.lookup_choices:
            yield {
                "selected": current == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        value = self.value() or "no"
        if value == "yes":
            return queryset.filter(archived_at__isnull=False)
        if value == "all":
            return queryset
        return queryset.filter(archived_at__isnull=True)


def pending_counts(workflow_ids):
    """{workflow id: its pending and held entries}: what archiving cancels."""
    return dict(
        LogEntry.objects.filter(
            workflow_id__in=workflow_ids, state__in=(EntryState.PENDING, EntryState.HELD)
        )
        .values_list("workflow_id")
        .annotate(n=Count("pk"))
        .order_by()
    )


def confirmation(model_admin, request, workflows, action, *, title, rows, effect, button):
    """The page an action shows before it does anything (its POST carries post=yes)."""
    hidden = [("action", action), ("index", "0")]
    hidden += [(admin.helpers.ACTION_CHECKBOX_NAME, str(w.pk)) for w in workflows]
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": Workflow._meta,
        "rows": rows,
        "effect": effect,
        "button": button,
        "hidden": hidden,
        "cancel_url": reverse("admin:automation_workflow_changelist"),
    }
    return TemplateResponse(
        request, "admin/automation/workflow/lifecycle_confirmation.html", context
    )


ARCHIVE_EFFECT = (
    "Archived, a workflow stops firing and leaves this list (filter “archived” to see it); "
    "its pending and held entries are cancelled (“workflow archived”); its triggers, log "
    "and versions stay. Unarchive brings it back, inactive."
)


def archive_description(workflow, pending):
    return f"{workflow.name}: {pending} pending entr{'y' if pending == 1 else 'ies'} to cancel"


def archived_message(model_admin, request, n, cancelled):
    model_admin.message_user(
        request,
        f"Archived {n} workflow{'s' if n != 1 else ''}; {cancelled} pending "
        f"entr{'y' if cancelled == 1 else 'ies'} cancelled. Triggers and log entries stay.",
        messages.SUCCESS,
    )


@admin.action(description="Archive selected workflows…")
def archive_selected(model_admin, request, queryset):
    """The list's "delete": archives (SPEC C.2), after a confirmation page."""
    if not model_admin.has_delete_permission(request):
        raise PermissionDenied
    workflows = list(queryset.filter(archived_at__isnull=True).order_by("name"))
    if request.POST.get("post") == "yes":
        cancelled = sum(lifecycle.archive(w, VersionSource.ADMIN, request.user) for w in workflows)
        archived_message(model_admin, request, len(workflows), cancelled)
        return None
    counts = pending_counts([w.pk for w in workflows])
    return confirmation(
        model_admin,
        request,
        workflows,
        "archive_selected",
        title="Archive workflows?",
        rows=[archive_description(w, counts.get(w.pk, 0)) for w in workflows],
        effect=ARCHIVE_EFFECT,
        button="Yes, archive them",
    )


@admin.action(description="Unarchive selected workflows (they come back inactive)")
def unarchive_selected(model_admin, request, queryset):
    if not may_unarchive(request):
        raise PermissionDenied
    n = sum(lifecycle.unarchive(w) for w in queryset)
    model_admin.message_user(request, f"Unarchived {n} workflow(s), inactive.", messages.SUCCESS)


@admin.action(description="Purge: erase selected workflows with their triggers, log and versions…")
def purge_selected(model_admin, request, queryset):
    """Erasing, not archiving (automation.purge_workflow): a confirmation page first."""
    if not request.user.has_perm(PURGE_PERMISSION):
        raise PermissionDenied
    workflows = list(queryset.order_by("name"))
    if request.POST.get("post") == "yes":
        for workflow in workflows:
            lifecycle.purge(workflow)
        model_admin.message_user(
            request, f"Erased {len(workflows)} workflow(s) with their history.", messages.SUCCESS
        )
        return None
    entries = dict(
        LogEntry.objects.filter(workflow_id__in=[w.pk for w in workflows])
        .values_list("workflow_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return confirmation(
        model_admin,
        request,
        workflows,
        "purge_selected",
        title="Erase workflows with their history?",
        rows=[
            f"{w.name}: {entries.get(w.pk, 0)} log entries, {w.version} versions" for w in workflows
        ],
        effect="They are erased for good, with their triggers, log entries, versions and "
        "notifications. Archiving (the Delete button) keeps all of that.",
        button="Yes, erase them",
    )
