"""Admin of what workflows did (SPEC §4.6): log entries, triggers, notifications,
and the lead page's workflow log and pending actions.

Logs are big tables: no full counts (EstimatedCountPaginator), a lead filter
typed by id, the page's leads fetched in one query, read-only. Flushing and
"run now" need `automation.change_logentry`.
"""

import contextlib
import json

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ObjectDoesNotExist
from django.forms.models import BaseInlineFormSet
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from automation.admin import views as admin_views
from automation.admin.views import (
    EstimatedCountPaginator,
    LeadIdFilter,
    WorkflowIdFilter,
    date_range_filter,
)
from automation.constants import EntryState
from automation.execution import tasks
from automation.models import LogEntry, Notification, Trigger
from leads.admin import LeadAdmin
from leads.models import Lead


def lead_link(lead_id, lead=None):
    url = reverse("admin:leads_lead_change", args=[lead_id])
    name = f"{lead.first_name} {lead.last_name}".strip() if lead else ""
    return format_html('<a href="{}">#{}</a> {}', url, lead_id, name)


def stamp(moment):
    """A compact local timestamp for list columns."""
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else "-"


def pretty_json(value):
    return format_html(
        '<pre class="json">{}</pre>', json.dumps(value, indent=2, sort_keys=True, default=str)
    )


def short_result(entry, length=80):
    """One line: the HTTP status and the reason, or the start of the result."""
    result = entry.result or {}
    status = result.get("status_code") or (result.get("response") or {}).get("status")
    parts = [f"HTTP {status}"] if status else []
    if entry.reason:
        parts.append(entry.reason)
    elif result and not status:
        parts.append(json.dumps(result, sort_keys=True, default=str))
    text = " · ".join(parts)
    return text if len(text) <= length else text[: length - 1] + "…"


# --- Logs ----------------------------------------------------------------------------


class LogChangeList(ChangeList):
    """The page's leads in one query (lead rows may be gone: no join, no constraint)."""

    def get_results(self, request):
        super().get_results(request)
        leads = Lead.objects.in_bulk({e.lead_id for e in self.result_list})
        for entry in self.result_list:
            entry.lead_obj = leads.get(entry.lead_id)


class ReadOnlyLogAdmin(admin.ModelAdmin):
    """Rows that record runs: never added, edited or deleted by hand."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_changelist(self, request, **kwargs):
        return LogChangeList

    @admin.display(description="Lead")
    def lead_display(self, obj):
        # A list page fetched its leads in one query (LogChangeList); a detail page has one.
        lead = (
            obj.lead_obj
            if hasattr(obj, "lead_obj")
            else Lead.objects.filter(pk=obj.lead_id).first()
        )
        return lead_link(obj.lead_id, lead)

    def has_flush_permission(self, request):
        return request.user.has_perm("automation.change_logentry")


@admin.register(LogEntry)
class LogEntryAdmin(ReadOnlyLogAdmin):
    list_display = [
        "created", "lead_display", "workflow", "version", "list", "action_type", "state",
        "due_or_finished", "attempts", "result_short",
    ]  # fmt: skip
    list_display_links = ["created"]
    list_filter = [
        date_range_filter("created_at", "date created"),
        LeadIdFilter,
        WorkflowIdFilter,
        "list",
        "action_type",
        "state",
    ]
    list_select_related = ["workflow", "list"]
    raw_id_fields = ["lead"]
    ordering = ["-created_at"]
    actions = ["flush_selected", "run_now"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "workflow",
                    "version",
                    "action_link",
                    "trigger_link",
                    "lead_display",
                    "list",
                    "action_type",
                    "state",
                    "reason",
                ]
            },
        ),
        (
            "Timing",
            {
                "fields": [
                    "created_at",
                    "due_at",
                    "started_at",
                    "finished_at",
                    "lease_until",
                    "attempts",
                ]
            },
        ),
        ("Request and response", {"fields": ["request_display", "response_display"]}),
        ("Result", {"fields": ["result_display", "context_display", "idempotency_key"]}),
    ]
    readonly_fields = [
        "workflow", "version", "action_link", "trigger_link", "lead_display", "list", "action_type",
        "state", "reason", "created_at", "due_at", "started_at", "finished_at", "lease_until",
        "attempts", "request_display", "response_display", "result_display", "context_display",
        "idempotency_key",
    ]  # fmt: skip

    @admin.display(description="Created", ordering="created_at")
    def created(self, obj):
        return stamp(obj.created_at)

    @admin.display(description="Due / finished")
    def due_or_finished(self, obj):
        if obj.state in EntryState.TERMINAL and obj.finished_at:
            return f"finished {stamp(obj.finished_at)}"
        return f"due {stamp(obj.due_at)}"

    @admin.display(description="Result")
    def result_short(self, obj):
        return short_result(obj)

    @admin.display(description="Action")
    def action_link(self, obj):
        action = related(obj, "action")
        if action is None:
            return "(deleted)"
        url = reverse("admin:automation_actionset_change", args=[action.action_set_id])
        return format_html('<a href="{}">{}</a>', url, action)

    @admin.display(description="Trigger")
    def trigger_link(self, obj):
        trigger = related(obj, "trigger")
        if trigger is None:
            return "-"
        url = reverse("admin:automation_trigger_change", args=[trigger.pk])
        return format_html(
            '<a href="{}">#{} {}</a>', url, trigger.pk, trigger.get_outcome_display()
        )

    @admin.display(description="Request sent")
    def request_display(self, obj):
        return http_part(obj.result, "request")

    @admin.display(description="Response")
    def response_display(self, obj):
        return http_part(obj.result, "response")

    @admin.display(description="Result (full)")
    def result_display(self, obj):
        return pretty_json(obj.result)

    @admin.display(description="Context")
    def context_display(self, obj):
        return pretty_json(obj.context)

    def get_urls(self):
        def flush(request):
            return admin_views.flush_view(self, request)

        return [
            path("flush/", self.admin_site.admin_view(flush), name="automation_logentry_flush"),
            *super().get_urls(),
        ]

    @admin.action(permissions=["flush"], description="Flush selected pending actions")
    def flush_selected(self, request, queryset):
        if request.POST.get("post") == "yes":
            flushed, leads = queryset.flush(reason=f"flushed by {request.user.get_username()}")
            admin_views.report_flushed(self, request, flushed, leads)
            return None
        hidden = [("action", "flush_selected"), ("post", "yes"), ("index", "0")]
        if request.POST.get("select_across") == "1":
            hidden.append(("select_across", "1"))
            subject = "among all entries matching the filters"
        else:
            subject = "among the selected entries"
        hidden += [
            (admin.helpers.ACTION_CHECKBOX_NAME, pk)
            for pk in request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME)
        ]
        return admin_views.flush_confirmation(
            self,
            request,
            queryset,
            subject=subject,
            hidden=hidden,
            cancel_url=request.get_full_path(),
        )

    @admin.action(permissions=["flush"], description="Run selected pending actions now")
    def run_now(self, request, queryset):
        count = tasks.run_now(queryset)
        if count:
            self.message_user(
                request,
                f"{count} pending action{'s' if count != 1 else ''} made due now and handed to the workers.",
                messages.SUCCESS,
            )
        else:
            self.message_user(request, "None of the selected entries is pending.", messages.WARNING)


def related(obj, name):
    """An entry's action or trigger, None when it was deleted (the entry keeps its id)."""
    try:
        return getattr(obj, name)
    except ObjectDoesNotExist:
        return None


def http_part(result, key):
    """The request or response an INTEGRATION entry recorded, bodies pretty-printed."""
    part = (result or {}).get(key)
    if not part:
        return "-"
    part = dict(part)
    body = part.get("body")
    if isinstance(body, str):
        with contextlib.suppress(ValueError):
            part["body"] = json.loads(body)
    return pretty_json(part)


@admin.register(Trigger)
class TriggerAdmin(ReadOnlyLogAdmin):
    list_display = ["occurred", "lead_display", "workflow", "version", "outcome", "reason"]
    list_display_links = ["occurred"]
    list_filter = [
        date_range_filter("occurred_at", "date"),
        LeadIdFilter,
        WorkflowIdFilter,
        "outcome",
    ]
    list_select_related = ["workflow"]
    raw_id_fields = ["lead"]
    ordering = ["-occurred_at"]
    fields = [
        "workflow",
        "version",
        "lead_display",
        "occurred_at",
        "outcome",
        "reason",
        "occurrence_display",
        "chain",
        "loop_iteration",
        "entries_link",
    ]
    readonly_fields = fields

    @admin.display(description="Occurred", ordering="occurred_at")
    def occurred(self, obj):
        return stamp(obj.occurred_at)

    @admin.display(description="Occurrence")
    def occurrence_display(self, obj):
        return pretty_json(obj.occurrence)

    @admin.display(description="Log entries")
    def entries_link(self, obj):
        # With the lead: entries are found through the lead's log (entry_lead_time_idx).
        url = reverse("admin:automation_logentry_changelist") + (
            f"?lead={obj.lead_id}&trigger__id__exact={obj.pk}"
        )
        return format_html('<a href="{}">Entries of this trigger</a>', url)


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = [
        "created_at", "workflow", "endpoint", "message", "acknowledged_at", "acknowledged_by",
    ]  # fmt: skip
    list_filter = [("acknowledged_at", admin.EmptyFieldListFilter)]
    list_select_related = ["workflow", "endpoint", "acknowledged_by"]
    readonly_fields = [
        "workflow",
        "endpoint",
        "created_at",
        "message",
        "chain",
        "acknowledged_at",
        "acknowledged_by",
    ]
    actions = ["acknowledge"]

    def has_add_permission(self, request):
        return False

    def has_acknowledge_permission(self, request):
        return request.user.has_perm("automation.change_notification")

    def get_urls(self):
        def acknowledge(request, object_id):
            return admin_views.acknowledge_view(self, request, object_id)

        return [
            path(
                "<path:object_id>/acknowledge/",
                self.admin_site.admin_view(acknowledge),
                name="automation_notification_acknowledge",
            ),
            *super().get_urls(),
        ]

    @admin.action(permissions=["acknowledge"], description="Acknowledge selected notifications")
    def acknowledge(self, request, queryset):
        count = queryset.filter(acknowledged_at__isnull=True).update(
            acknowledged_at=timezone.now(), acknowledged_by=request.user
        )
        self.message_user(request, f"{count} notification{'s' if count != 1 else ''} acknowledged.")


# --- The lead page ---------------------------------------------------------------------


class NewestFormSet(BaseInlineFormSet):
    """An inline formset of only the newest `limit` rows (a lead may have thousands)."""

    limit = 50

    def get_queryset(self):
        if not hasattr(self, "_newest"):
            self._newest = list(super().get_queryset()[: self.limit])
        return self._newest


class LeadLogInline(admin.TabularInline):
    """The lead's workflow log, newest first, read-only."""

    model = LogEntry
    fk_name = "lead"
    formset = NewestFormSet
    fields = [
        "created_at", "workflow", "action_type", "state", "due_at", "finished_at", "attempts",
        "result_short",
    ]  # fmt: skip
    readonly_fields = fields
    ordering = ["-created_at"]
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name = "workflow log entry"
    verbose_name_plural = f"Workflow log (newest {NewestFormSet.limit})"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("workflow")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Result")
    def result_short(self, obj):
        return short_result(obj)


class LeadPendingInline(LeadLogInline):
    """The lead's pending actions, next due first, with a flush button."""

    fields = ["due_at", "workflow", "action_type", "created_at", "attempts", "result_short"]
    readonly_fields = fields
    ordering = ["due_at"]
    template = "admin/automation/lead_pending_inline.html"
    verbose_name = "pending workflow action"
    verbose_name_plural = "Pending workflow actions"

    def get_queryset(self, request):
        return super().get_queryset(request).filter(state=EntryState.PENDING)


# The lead's edit page shows its pending actions and workflow log after its
# calls, callbacks and hopper entries (leads.admin leaves this extension point).
LeadAdmin.inlines = [*LeadAdmin.inlines, LeadPendingInline, LeadLogInline]
# And its journey (automation.admin.journey), below them.
LeadAdmin.change_form_template = "admin/automation/lead_change_form.html"
