"""Admin of workflows (SPEC §4): the workflow editor, endpoints and adaptors.

History, Duplicate, archive (the Delete button) and purge: automation.admin.history.

The workflow page is one form in tabs (General, Stop & Safeguards, Schedule,
Events, Actions, Logs, Performance [automation.admin.performance], Backtest
[automation.admin.backtests], Test): fieldsets and inlines carry a tab name and a
small script (static/automation/tabs.js) shows one tab at a time. Events and
actions are edited with the fields of their type, generated from the type's
schema (automation.admin.forms). Actions live in action sets: the workflow page
edits the sets' timing; each set's page (one hop, "Save and return to
workflow") edits its ordered actions.

The logs, triggers, notifications and the lead page's log: automation.admin.logs.
"""

from django.contrib import admin, messages
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from automation.admin import backtests, held, history, performance
from automation.admin import logs as admin_logs  # noqa: F401 (admin_logs registers the log admins)
from automation.admin import views as admin_views
from automation.admin.forms import (
    ActionForm,
    ActionSetForm,
    EventConditionForm,
    EventConditionFormSet,
    WorkflowForm,
    field_names_datalist,
)
from automation.constants import (
    LOOP_LIMIT,
    LOOP_WINDOW_SECONDS,
    RATE_LIMIT_SECONDS,
    RATE_LIMIT_TRIGGERS,
    VersionSource,
)
from automation.document import analysis, lifecycle, references
from automation.execution import actions
from automation.models import (
    Action,
    ActionSet,
    EventCondition,
    LogEntry,
    Trigger,
    Workflow,
)
from crm.validation import Invalid, parse_id

RECENT_ENTRIES = 20

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
    formset = EventConditionFormSet
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
    form = ActionSetForm
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
    """ "Move: list=Insurance TX": references by their current name, as documents show them."""
    executor = actions.EXECUTORS.get(action.type)
    shown = executor.schema.show(action.config) if executor else action.config
    config = ", ".join(f"{k}={v}" for k, v in (shown or {}).items())
    state = "" if action.active else " (inactive)"
    return f"{action.get_type_display()}{': ' + config if config else ''}{state}"


def warn_about_cycles(request, workflow):
    """After a save: the cycles it closes with active workflows (SPEC C.4), as warnings."""
    for warning in analysis.cycle_warnings(workflow):
        messages.warning(request, warning["message"])


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    form = WorkflowForm
    list_display = [
        "name", "active", "relation", "all_campaigns", "stop_if", "schedule_enabled",
        "action_set_count", "disabled", "version", "modified_at",
    ]  # fmt: skip
    list_filter = [history.ArchivedFilter, "active", "relation", "stop_if", "schedule_enabled"]
    search_fields = ["name", "description"]
    autocomplete_fields = ["campaigns", "lists", "queues", "inbound_numbers", "email_templates"]
    readonly_fields = ["rate_limit", "loop_protection"]
    inlines = [EventConditionInline, ActionSetInline]
    actions = [
        held.release_held,
        held.flush_held,
        history.archive_selected,
        history.unarchive_selected,
        history.purge_selected,
    ]
    # Delete archives (SPEC C.2): see get_deleted_objects and delete_model.
    delete_confirmation_template = "admin/automation/workflow/archive_confirmation.html"
    tabs = [
        ("general", "General"),
        ("stop", "Stop & Safeguards"),
        ("schedule", "Schedule"),
        ("events", "Events"),
        ("actions", "Actions"),
        ("logs", "Logs"),
        ("performance", "Performance"),
        ("backtest", "Backtest"),
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
                    "reenrollment",
                    "reenroll_after_days",
                    "skip_if_pending",
                    "perform_action_on",
                    "flood_limit",
                    "rate_limit",
                    "loop_protection",
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

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        lifecycle.saved_in_admin(form.instance, request.user)
        references.sync(form.instance)
        warn_about_cycles(request, form.instance)

    # --- Lifecycle (SPEC C.2): history, archive instead of delete, purge -----------------

    def has_change_permission(self, request, obj=None):
        """An archived workflow is read-only: unarchive it to edit it."""
        if obj is not None and obj.archived:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.archived:
            return False  # archived already; erasing is the purge action
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # deleting is archiving: archive_selected
        if not request.user.has_perm(history.PURGE_PERMISSION):
            actions.pop("purge_selected", None)
        if not history.may_unarchive(request):
            actions.pop("unarchive_selected", None)
        if not self.has_delete_permission(request):
            actions.pop("archive_selected", None)
        return actions

    def get_deleted_objects(self, objs, request):
        """What the Delete button's page lists: what archiving does (nothing is deleted,
        so no permission on the log is needed)."""
        counts = history.pending_counts([o.pk for o in objs])
        what = [history.archive_description(o, counts.get(o.pk, 0)) for o in objs] + [
            history.ARCHIVE_EFFECT
        ]
        return what, {}, set(), []

    def delete_model(self, request, obj):
        lifecycle.archive(obj, VersionSource.ADMIN, request.user)

    def response_delete(self, request, obj_display, obj_id):
        self.message_user(
            request,
            f"“{obj_display}” is archived: it no longer fires and its pending entries are "
            "cancelled; its triggers and log stay (filter “archived” to find it).",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:automation_workflow_changelist"))

    def history_view(self, request, object_id, extra_context=None):
        """The workflow's versions and their diff (the "History" link)."""
        return history.history_view(self, request, object_id, extra_context)

    @admin.display(description="Loop protection")
    def loop_protection(self, obj):
        minutes = LOOP_WINDOW_SECONDS // 60
        return (
            f"Disabled automatically at its {LOOP_LIMIT}th iteration in one causal chain, or "
            f"at {LOOP_LIMIT} iterations across leads within {minutes} minutes (an iteration: "
            "a trigger whose chain already holds this workflow twice; a single re-trigger "
            "that settles is not one). Nothing to reset."
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
                "<path:object_id>/held/<str:how>/",
                wrap(held.held_view),
                name="automation_workflow_held",
            ),
            path(
                "<path:object_id>/backtest/<str:backtest_id>/",
                wrap(backtests.backtest_status_view),
                name="automation_workflow_backtest_status",
            ),
            path(
                "<path:object_id>/backtest/",
                wrap(backtests.backtest_view),
                name="automation_workflow_backtest",
            ),
            path(
                "<path:object_id>/dry-run/",
                wrap(admin_views.dry_run_view),
                name="automation_workflow_dry_run",
            ),
            path(
                "<path:object_id>/versions/<int:number>/restore/",
                wrap(history.restore_view),
                name="automation_workflow_restore",
            ),
            path(
                "<path:object_id>/duplicate/",
                wrap(history.duplicate_view),
                name="automation_workflow_duplicate",
            ),
            path(
                "<path:object_id>/unarchive/",
                wrap(history.unarchive_view),
                name="automation_workflow_unarchive",
            ),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        saved_only = ("logs", "performance", "backtest", "test")
        tabs = [t for t in self.tabs if obj is not None or t[0] not in saved_only]
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
                held_count=held.held_counts([obj.pk]).get(obj.pk, 0),
                can_flush=request.user.has_perm("automation.change_logentry"),
                can_duplicate=self.has_add_permission(request),
                can_unarchive=history.may_unarchive(request),
                logs_url=reverse("admin:automation_logentry_changelist") + f"?workflow={obj.pk}",
                triggers_url=reverse("admin:automation_trigger_changelist") + f"?workflow={obj.pk}",
                flush_url=reverse("admin:automation_logentry_flush") + f"?workflow={obj.pk}",
                add_action_set_url=reverse("admin:automation_actionset_add")
                + f"?workflow={obj.pk}",
                **performance.context(request, obj),
                **backtests.context(request, obj),
            )
        return super().render_change_form(request, context, add, change, form_url, obj)


@admin.register(ActionSet)
class ActionSetAdmin(admin.ModelAdmin):
    """One action set and its ordered actions; reached from its workflow's Actions tab."""

    form = ActionSetForm
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

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        lifecycle.saved_in_admin(form.instance.workflow, request.user)
        references.sync(form.instance.workflow)
        warn_about_cycles(request, form.instance.workflow)  # its actions may close one

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        lifecycle.saved_in_admin(obj.workflow, request.user)

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.workflow.archived:
            return False  # an archived workflow is read-only
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.workflow.archived:
            return False
        return super().has_delete_permission(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return ["workflow"] if obj else []

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        try:
            workflow_id = parse_id(str(initial.get("workflow", "")), "workflow")
        except Invalid:
            workflow_id = None
        if workflow_id is not None:  # a new set goes after the workflow's last one
            last = ActionSet.objects.filter(workflow_id=workflow_id).order_by("-position").first()
            initial["position"] = last.position + 1 if last else 0
        return initial

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["field_names_datalist"] = field_names_datalist()
        workflow_id = obj.workflow_id if obj else request.GET.get("workflow", "")
        if obj or (workflow_id.isascii() and workflow_id.isdigit()):
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
