"""Flood hold in the admin (SPEC C.5): Release or Flush a workflow's held entries.

Both are workflow-list actions and per-workflow pages (linked from the flood
notification and the workflow's Logs tab), and both go through a
confirmation page that says how many entries of which workflows it touches.
They need the permission that gates flushing the log (change_logentry).
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse

from automation.constants import EntryState
from automation.engine import flood
from automation.models import LogEntry, Workflow

VERBS = {
    "release": (
        "Release",
        "released",
        "They become pending and run as scheduled (late ones at once).",
    ),
    "flush": ("Flush", "flushed", "They become flushed and never run."),
}


def may_settle(request):
    return request.user.has_perm("automation.change_logentry")


def held_counts(workflow_ids):
    """{workflow id: held entries} (entry_held_idx)."""
    return dict(
        LogEntry.objects.filter(workflow_id__in=workflow_ids, state=EntryState.HELD)
        .values_list("workflow_id")
        .annotate(n=Count("pk"))
        .order_by()
    )


def settle(model_admin, request, workflows, how, hidden, cancel_url):
    """The confirmation page (GET, or an action's first POST), then the change (post=yes)."""
    if not may_settle(request):
        raise PermissionDenied
    label, done, effect = VERBS[how]
    workflows = list(workflows)
    if request.POST.get("post") == "yes":
        total = 0
        for workflow in workflows:
            total += getattr(flood, how)(workflow.pk, user=request.user)
        model_admin.message_user(
            request, f"{total} held entr{'y' if total == 1 else 'ies'} {done}.", messages.SUCCESS
        )
        return None
    counts = held_counts([w.pk for w in workflows])
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"{label} held entries",
        "opts": Workflow._meta,
        "rows": [(w, counts.get(w.pk, 0)) for w in workflows],
        "count": sum(counts.values()),
        "label": label,
        "effect": effect,
        "hidden": hidden,
        "cancel_url": cancel_url,
    }
    return TemplateResponse(request, "admin/automation/workflow/held_confirmation.html", context)


@admin.action(description="Release held entries (flood hold)…")
def release_held(model_admin, request, queryset):
    return action(model_admin, request, queryset, "release")


@admin.action(description="Flush held entries (flood hold)…")
def flush_held(model_admin, request, queryset):
    return action(model_admin, request, queryset, "flush")


def action(model_admin, request, queryset, how):
    hidden = [("action", f"{how}_held"), ("index", "0")]
    hidden += [
        (admin.helpers.ACTION_CHECKBOX_NAME, str(pk))
        for pk in queryset.values_list("pk", flat=True)
    ]
    cancel = reverse("admin:automation_workflow_changelist")
    return settle(model_admin, request, queryset.order_by("name"), how, hidden, cancel)


def held_view(model_admin, request, object_id, how):
    """One workflow's Release or Flush page (GET: confirm; POST post=yes: do it)."""
    if how not in VERBS:
        raise PermissionDenied
    workflow = get_object_or_404(Workflow, pk=object_id)
    back = reverse("admin:automation_workflow_change", args=[workflow.pk])
    response = settle(model_admin, request, [workflow], how, [], back)
    return response or HttpResponseRedirect(back)
