"""Admin of workflows and their logs (SPEC §4, §4.6).

The workflow page is one form in tabs (General, Stop & Safeguards, Schedule,
Events, Actions, Logs, Test): fieldsets and inlines carry a tab name and a
small script (static/automation/tabs.js) shows one tab at a time. Events and
actions are edited with the fields of their type, generated from the type's
schema (automation.forms). Actions live in action sets: the workflow page
edits the sets' timing; each set's page (one hop, "Save and return to
workflow") edits its ordered actions.

Logs are big tables: no full counts, a lead filter typed by id, no per-row
queries, read-only. Flushing and "run now" need `automation.change_logentry`.
"""

import contextlib
import json

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db.models import Count
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from automation import admin_views
from automation.admin_views import EstimatedCountPaginator, LeadIdFilter, date_range_filter
from automation.constants import RATE_LIMIT_SECONDS, RATE_LIMIT_TRIGGERS, EntryState
from automation.forms import ActionForm, EventConditionForm, WorkflowForm, field_names_datalist
from automation.models import (
    Action,
    ActionSet,
    Adaptor,
    Endpoint,
    EventCondition,
    LogEntry,
    Notification,
    Trigger,
    Workflow,
)
from leads.admin import LeadAdmin
from leads.models import Lead

RECENT_ENTRIES = 20


def lead_link(lead_id, lead=None):
    url = reverse("admin:leads_lead_change", args=[lead_id])
    name = f"{lead.first_name} {lead.last_name}".strip() if lead else ""
    return format_html('<a href="{}">#{}</a> {}', url, lead_id, name)


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


# --- Workflow editor ---------------------------------------------------------------


class TypedConfigInline(admin.StackedInline):
    """Editors get the chosen type's fields; read-only users the stored config as JSON."""

    main_fields = []
    extra = 0

    def get_fieldsets(self, request, obj=None):
        if self.has_change_permission(request, obj) or self.has_add_permission(request, obj):
            return self.form.fieldsets(self.main_fields)
        return [(None, {"fields": [*self.main_fields, "config"]})]


class EventConditionInline(TypedConfigInline):
    model = EventCondition
    form = EventConditionForm
    main_fields = [("type", "active", "position")]
    tab = "events"
    verbose_name = "event condition"
    verbose_name_plural = "Event conditions (all must match)"


class ActionInline(TypedConfigInline):
    model = Action
    form = ActionForm
    main_fields = [("type", "position"), ("active", "skip_if_live_call")]
    verbose_name_plural = "Actions (run in order)"


class ActionSetInline(admin.TabularInline):
    """Action sets' timing on the workflow page; their actions one click away."""

    model = ActionSet
    fields = [
        "position", "delay_mode", "delay_days", "delay_hours", "delay_minutes", "delay_field",
        "delay_direction", "window", "actions_summary",
    ]  # fmt: skip
    readonly_fields = ["actions_summary"]
    extra = 0
    tab = "actions"
    verbose_name_plural = "Action sets (each with its own delay and window)"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("actions")

    @admin.display(description="Actions")
    def actions_summary(self, obj):
        if not obj.pk:
            return "Save, then add its actions."
        items = format_html_join(
            "", "<li>{}</li>", ((describe_action(a),) for a in obj.actions.all())
        ) or mark_safe("<li><em>no actions yet</em></li>")
        url = reverse("admin:automation_actionset_change", args=[obj.pk])
        return format_html(
            '<ol class="action-summary">{}</ol><a class="button edit-actions" href="{}">Edit actions</a>',
            items,
            url,
        )


def describe_action(action):
    config = ", ".join(f"{k}={v}" for k, v in (action.config or {}).items())
    state = "" if action.active else " (inactive)"
    return f"{action.get_type_display()}{': ' + config if config else ''}{state}"


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    form = WorkflowForm
    list_display = [
        "name", "active", "relation", "all_campaigns", "stop_if", "schedule_enabled",
        "action_set_count", "disabled", "modified_at",
    ]  # fmt: skip
    list_filter = ["active", "relation", "stop_if", "schedule_enabled"]
    search_fields = ["name", "description"]
    autocomplete_fields = ["campaigns", "lists", "queues", "inbound_numbers", "email_templates"]
    readonly_fields = ["rate_limit", "loop_iterations"]
    inlines = [EventConditionInline, ActionSetInline]
    tabs = [
        ("general", "General"),
        ("stop", "Stop & Safeguards"),
        ("schedule", "Schedule"),
        ("events", "Events"),
        ("actions", "Actions"),
        ("logs", "Logs"),
        ("test", "Test"),
    ]
    fieldsets = [
        (
            "General",
            {
                "classes": ["tab-general"],
                "fields": [
                    "name",
                    "description",
                    "active",
                    "all_campaigns",
                    "relation",
                    "relation_mode",
                    "campaigns",
                    "lists",
                    "queues",
                    "inbound_numbers",
                    "email_templates",
                ],  # fmt: skip
            },
        ),
        (
            "Stop & Safeguards",
            {
                "classes": ["tab-stop"],
                "fields": [
                    "stop_if",
                    "stop_filter",
                    "skip_if_pending",
                    "perform_action_on",
                    "rate_limit",
                    "loop_iterations",
                ],  # fmt: skip
            },
        ),
        (
            "Schedule",
            {
                "classes": ["tab-schedule"],
                "fields": ["schedule_enabled", "schedule_window", "schedule_days"],
            },
        ),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(action_set_count=Count("action_sets"))

    @admin.display(description="Action sets", ordering="action_set_count")
    def action_set_count(self, obj):
        return obj.action_set_count

    @admin.display(boolean=True, description="Disabled by the system")
    def disabled(self, obj):
        return bool(obj.disabled_reason)

    @admin.display(description="Rate limit")
    def rate_limit(self, obj):
        minutes = RATE_LIMIT_SECONDS // 60
        return (
            f"{RATE_LIMIT_TRIGGERS} triggers per lead per {minutes} minutes "
            "(fixed by the system; later triggers are suppressed and logged)"
        )

    def get_urls(self):
        def wrap(view):
            def wrapper(request, *args, **kwargs):
                return view(self, request, *args, **kwargs)

            return self.admin_site.admin_view(wrapper)

        return [
            path(
                "<path:object_id>/reenable/",
                wrap(admin_views.reenable_view),
                name="automation_workflow_reenable",
            ),
            path(
                "<path:object_id>/dry-run/",
                wrap(admin_views.dry_run_view),
                name="automation_workflow_dry_run",
            ),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        tabs = [t for t in self.tabs if obj is not None or t[0] not in ("logs", "test")]
        inlines = {
            f"{formset.formset.prefix}-group": getattr(formset.opts, "tab", None)
            for formset in context.get("inline_admin_formsets", [])
        }
        context["tab_config"] = {"tabs": tabs, "inlines": inlines}
        context["field_names_datalist"] = field_names_datalist()
        if obj is not None:
            entries = LogEntry.objects.filter(workflow=obj).select_related("list")
            context.update(
                recent_entries=list(entries.order_by("-created_at")[:RECENT_ENTRIES]),
                recent_triggers=list(
                    Trigger.objects.filter(workflow=obj).order_by("-occurred_at")[:10]
                ),
                pending_count=admin_views.pending_count(entries),
                can_flush=request.user.has_perm("automation.change_logentry"),
                logs_url=reverse("admin:automation_logentry_changelist")
                + f"?workflow__id__exact={obj.pk}",
                triggers_url=reverse("admin:automation_trigger_changelist")
                + f"?workflow__id__exact={obj.pk}",
                flush_url=reverse("admin:automation_logentry_flush") + f"?workflow={obj.pk}",
                add_action_set_url=reverse("admin:automation_actionset_add")
                + f"?workflow={obj.pk}",
            )
        return super().render_change_form(request, context, add, change, form_url, obj)


@admin.register(ActionSet)
class ActionSetAdmin(admin.ModelAdmin):
    """One action set and its ordered actions; reached from its workflow's Actions tab."""

    fieldsets = [
        (None, {"fields": ["workflow", "position"]}),
        (
            "Delay",
            {
                "fields": [
                    "delay_mode",
                    ("delay_days", "delay_hours", "delay_minutes"),
                    ("delay_field", "delay_direction"),
                ],  # fmt: skip
            },
        ),
        ("Window", {"fields": ["window"]}),
    ]
    inlines = [ActionInline]
    list_display = ["__str__", "delay_mode", "window"]
    list_select_related = ["workflow"]

    def has_module_permission(self, request):
        return False  # edited through workflows, not listed on the index

    def get_readonly_fields(self, request, obj=None):
        return ["workflow"] if obj else []

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        workflow_id = str(initial.get("workflow", ""))
        if workflow_id.isdigit():  # a new set goes after the workflow's last one
            last = ActionSet.objects.filter(workflow_id=workflow_id).order_by("-position").first()
            initial["position"] = last.position + 1 if last else 0
        return initial

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["field_names_datalist"] = field_names_datalist()
        workflow_id = obj.workflow_id if obj else request.GET.get("workflow")
        if workflow_id:
            context["workflow_url"] = (
                reverse("admin:automation_workflow_change", args=[workflow_id]) + "#tab-actions"
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def back_to_workflow(self, obj):
        url = reverse("admin:automation_workflow_change", args=[obj.workflow_id])
        return HttpResponseRedirect(url + "#tab-actions")

    def response_add(self, request, obj, post_url_continue=None):
        if "_return_to_workflow" in request.POST:
            return self.back_to_workflow(obj)
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        if "_return_to_workflow" in request.POST:
            return self.back_to_workflow(obj)
        return super().response_change(request, obj)

    def response_post_save_add(self, request, obj):
        return self.back_to_workflow(obj)

    def response_post_save_change(self, request, obj):
        return self.back_to_workflow(obj)


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
        "id", "created_at", "lead_display", "workflow", "list", "action_type", "state",
        "due_or_finished", "attempts", "result_short",
    ]  # fmt: skip
    list_filter = [
        date_range_filter("created_at", "date created"),
        LeadIdFilter,
        "workflow",
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
        "workflow", "action_link", "trigger_link", "lead_display", "list", "action_type",
        "state", "reason", "created_at", "due_at", "started_at", "finished_at", "lease_until",
        "attempts", "request_display", "response_display", "result_display", "context_display",
        "idempotency_key",
    ]  # fmt: skip

    @admin.display(description="Due / finished")
    def due_or_finished(self, obj):
        if obj.state in EntryState.TERMINAL and obj.finished_at:
            return format_html("finished {}", obj.finished_at.strftime("%Y-%m-%d %H:%M:%S"))
        return format_html("due {}", obj.due_at.strftime("%Y-%m-%d %H:%M:%S"))

    @admin.display(description="Result")
    def result_short(self, obj):
        return short_result(obj)

    @admin.display(description="Action")
    def action_link(self, obj):
        if obj.action_id is None:
            return "(deleted)"
        url = reverse("admin:automation_actionset_change", args=[obj.action.action_set_id])
        return format_html('<a href="{}">{}</a>', url, obj.action)

    @admin.display(description="Trigger")
    def trigger_link(self, obj):
        if obj.trigger_id is None:
            return "-"
        url = reverse("admin:automation_trigger_change", args=[obj.trigger_id])
        return format_html(
            '<a href="{}">#{} {}</a>', url, obj.trigger_id, obj.trigger.get_outcome_display()
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
        count = queryset.run_now()
        if count:
            self.message_user(
                request,
                f"{count} pending action{'s' if count != 1 else ''} made due now and handed to the workers.",
                messages.SUCCESS,
            )
        else:
            self.message_user(request, "None of the selected entries is pending.", messages.WARNING)


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
    list_display = ["id", "occurred_at", "lead_display", "workflow", "outcome", "reason"]
    list_filter = [
        date_range_filter("occurred_at", "date"),
        LeadIdFilter,
        "workflow",
        "outcome",
    ]
    list_select_related = ["workflow"]
    raw_id_fields = ["lead"]
    ordering = ["-occurred_at"]
    fields = [
        "workflow",
        "lead_display",
        "occurred_at",
        "outcome",
        "reason",
        "occurrence_display",
        "chain",
        "entries_link",
    ]
    readonly_fields = fields

    @admin.display(description="Occurrence")
    def occurrence_display(self, obj):
        return pretty_json(obj.occurrence)

    @admin.display(description="Log entries")
    def entries_link(self, obj):
        url = reverse("admin:automation_logentry_changelist") + f"?trigger__id__exact={obj.pk}"
        return format_html('<a href="{}">Entries of this trigger</a>', url)


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "workflow", "message", "acknowledged_at", "acknowledged_by"]
    list_filter = [("acknowledged_at", admin.EmptyFieldListFilter)]
    list_select_related = ["workflow", "acknowledged_by"]
    readonly_fields = [
        "workflow",
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
        from django.utils import timezone

        count = queryset.filter(acknowledged_at__isnull=True).update(
            acknowledged_at=timezone.now(), acknowledged_by=request.user
        )
        self.message_user(request, f"{count} notification{'s' if count != 1 else ''} acknowledged.")


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    list_display = ["name", "method", "url", "body_format", "response_format", "active"]
    list_filter = ["active", "method", "body_format"]
    search_fields = ["name", "url"]
    fieldsets = [
        (None, {"fields": ["name", "active", "method", "url", "auth_query", "headers"]}),
        (
            "Body and response",
            {"fields": ["body_format", "response_format", "success_key", "success_value"]},
        ),
        ("Delivery", {"fields": ["timeout_seconds", "max_attempts", "secret"]}),
    ]


@admin.register(Adaptor)
class AdaptorAdmin(admin.ModelAdmin):
    list_display = ["name"]
    search_fields = ["name"]


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
