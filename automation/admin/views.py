"""The admin's own pages and list helpers (wired up in automation.admin.workflows).

Views are thin: they check a permission, call the model (`flush()`,
`reenable()`) or the dry run, and render. Helpers keep the big log lists
cheap: a paginator that never counts more than `EstimatedCountPaginator.CAP`
rows, a lead filter typed by id, a from/to date filter served by an index.
"""

import json
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connections, transaction
from django.http import (
    Http404,
    HttpResponseBadRequest,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.http import url_has_allowed_host_and_scheme

from automation.admin.forms import DryRunForm
from automation.constants import ActionType, EntryState
from automation.document import dryrun, lifecycle
from automation.models import LogEntry, Notification, Workflow
from crm.validation import MAX_DATE, MIN_DATE, Invalid, day_start, parse_date, parse_id

# --- Big lists ------------------------------------------------------------------


class EstimatedCountPaginator(Paginator):
    """Counts up to CAP rows exactly (`COUNT(*)` over a LIMIT subquery); above
    that, PostgreSQL's planner estimate. A log of millions of rows is never
    counted in full."""

    CAP = 10_000
    estimated = False

    @cached_property
    def count(self):
        exact = self.object_list[: self.CAP + 1].count()
        if exact <= self.CAP:
            return exact
        self.estimated = True
        return max(planner_estimate(self.object_list) or 0, self.CAP + 1)


def planner_estimate(queryset):
    """The planner's row estimate for a queryset (PostgreSQL), else None."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def other_params(changelist, *own):
    """The changelist's current query parameters but `own` and the page, as (name, value)."""
    pairs = []
    for name, value in changelist.params.items():
        if name in own or name == "p":
            continue
        for item in value if isinstance(value, list) else [value]:
            pairs.append((name, item))
    return pairs


class LeadIdFilter(admin.ListFilter):
    """Filter by a lead id typed in a box (a dropdown of millions of leads is no filter)."""

    title = "lead ID"
    parameter_name = "lead"
    field = "lead_id"
    template = "admin/automation/filters/text_input.html"

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        value = params.pop(self.parameter_name, None)
        value = value[-1] if isinstance(value, list) else value
        self.value = (value or "").strip()
        self.id, self.error = None, ""
        if self.value:
            try:
                self.id = parse_id(self.value, self.parameter_name)
            except Invalid:
                self.error = f"A {self.title} is a number (e.g. 1234): no results."

    def has_output(self):
        return True

    def expected_parameters(self):
        return [self.parameter_name]

    def queryset(self, request, queryset):
        if self.error:
            return queryset.none()
        if self.id is not None:
            return queryset.filter(**{self.field: self.id})
        return queryset

    def choices(self, changelist):
        yield {
            "name": self.parameter_name,
            "value": self.value,
            "error": self.error,
            "hidden": other_params(changelist, self.parameter_name),
            "clear_url": changelist.get_query_string(remove=[self.parameter_name]),
            "placeholder": "e.g. 1234",
        }


class WorkflowIdFilter(LeadIdFilter):
    """Filter by a workflow id typed in a box: a dropdown of every workflow (thousands,
    each a row read on every page) is no filter either. The workflow page links here."""

    title = "workflow ID"
    parameter_name = "workflow"
    field = "workflow_id"


def read_date(value):
    """A YYYY-MM-DD string as a date within crm.validation's range; None when blank or not one."""
    try:
        return parse_date(value) if value else None
    except Invalid:
        return None


class DateRangeFilter(admin.ListFilter):
    """From/to dates (inclusive, in the account's time zone) on one datetime field.

    The bounds become `field >= start of from-day` and `field < start of the
    day after to-day`, which an index on the field serves (a `__date` lookup
    would not).
    """

    field = "created_at"
    title = "date created"
    template = "admin/automation/filters/date_range.html"

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        self.values = {}
        for name in self.expected_parameters():
            value = params.pop(name, None)
            value = value[-1] if isinstance(value, list) else value
            self.values[name] = (value or "").strip()
        self.start = read_date(self.values[self.from_param])
        self.end = read_date(self.values[self.to_param])
        bad = [v for v in self.values.values() if v and read_date(v) is None]
        self.error = (
            f"Not a date: {', '.join(bad)} (use YYYY-MM-DD, {MIN_DATE} to {MAX_DATE}): no results."
            if bad
            else ""
        )

    @property
    def from_param(self):
        return f"{self.field}_from"

    @property
    def to_param(self):
        return f"{self.field}_to"

    def has_output(self):
        return True

    def expected_parameters(self):
        return [self.from_param, self.to_param]

    def queryset(self, request, queryset):
        if self.error:
            return queryset.none()
        zone = timezone.get_current_timezone()
        if self.start:
            queryset = queryset.filter(**{f"{self.field}__gte": day_start(self.start, zone)})
        if self.end:
            day_after = day_start(self.end + timedelta(days=1), zone)
            queryset = queryset.filter(**{f"{self.field}__lt": day_after})
        return queryset

    def choices(self, changelist):
        yield {
            "from_name": self.from_param,
            "from_value": self.values[self.from_param],
            "to_name": self.to_param,
            "to_value": self.values[self.to_param],
            "error": self.error,
            "hidden": other_params(changelist, *self.expected_parameters()),
            "clear_url": changelist.get_query_string(remove=self.expected_parameters()),
        }


def date_range_filter(field, title):
    return type(
        f"{field.title().replace('_', '')}RangeFilter",
        (DateRangeFilter,),
        {"field": field, "title": title},
    )


# --- Flush ----------------------------------------------------------------------


def safe_next(request, default):
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def flush_confirmation(model_admin, request, queryset, *, subject, hidden, cancel_url):
    """The page that says how many pending actions for how many leads would be flushed."""
    pending = queryset.unexecuted()
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": LogEntry._meta,
        "title": "Flush pending actions?",
        "subject": subject,
        "count": pending.count(),
        "leads": pending.values("lead_id").distinct().count(),
        "hidden": hidden,
        "cancel_url": cancel_url,
    }
    return TemplateResponse(request, "admin/automation/flush_confirmation.html", context)


def report_flushed(model_admin, request, flushed, leads):
    if flushed:
        model_admin.message_user(
            request,
            f"Flushed {flushed} pending action{'s' if flushed != 1 else ''} "
            f"for {leads} lead{'s' if leads != 1 else ''}.",
            messages.SUCCESS,
        )
    else:
        model_admin.message_user(
            request, "There were no pending actions to flush.", messages.WARNING
        )


def flush_view(model_admin, request):
    """Flush the pending actions of one workflow and/or one lead (?workflow=…&lead=…)."""
    if not request.user.has_perm("automation.change_logentry"):
        raise PermissionDenied
    params = request.POST if request.method == "POST" else request.GET
    filters, subject = {}, []
    workflow = None
    try:
        ids = {
            name: parse_id(params[name], name) for name in ("workflow", "lead") if params.get(name)
        }
    except Invalid as exc:
        return HttpResponseBadRequest(f"{exc.path}: {exc.message}", content_type="text/plain")
    if "workflow" in ids:
        workflow = get_object_or_404(Workflow, pk=ids["workflow"])
        filters["workflow"] = workflow
        subject.append(f"of workflow “{workflow}”")
    if "lead" in ids:
        filters["lead_id"] = ids["lead"]
        subject.append(f"of lead #{ids['lead']}")
    if not filters:
        return HttpResponseBadRequest(
            "Name a workflow (?workflow=id) or a lead (?lead=id) to flush."
        )
    default = (
        reverse("admin:automation_workflow_change", args=[workflow.pk]) + "#tab-logs"
        if workflow and "lead_id" not in filters
        else reverse("admin:automation_logentry_changelist")
    )
    next_url = safe_next(request, default)
    queryset = LogEntry.objects.filter(**filters)
    if request.method == "POST" and params.get("post") == "yes":
        flushed, leads = queryset.flush(reason=f"flushed by {request.user.get_username()}")
        report_flushed(model_admin, request, flushed, leads)
        return HttpResponseRedirect(next_url)
    hidden = [(name, str(value)) for name, value in ids.items()]
    return flush_confirmation(
        model_admin,
        request,
        queryset,
        subject=" ".join(subject),
        hidden=[*hidden, ("next", next_url)],
        cancel_url=next_url,
    )


# --- Workflow pages -------------------------------------------------------------


def object_or_404(model, object_id):
    """The object of a custom admin view's URL id (`<path:object_id>`): 404 unless an id."""
    try:
        return get_object_or_404(model, pk=parse_id(object_id))
    except Invalid:
        raise Http404(f"No {model._meta.verbose_name} with id {object_id[:40]!r}.") from None


def reenable_view(model_admin, request, object_id):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    workflow = object_or_404(Workflow, object_id)
    if not model_admin.has_change_permission(request, workflow):
        raise PermissionDenied
    with transaction.atomic():
        workflow.reenable()
        lifecycle.saved_in_admin(workflow, request.user)  # active again: a new version
    model_admin.message_user(
        request, f"“{workflow}” is active again; its loop count starts from zero.", messages.SUCCESS
    )
    return HttpResponseRedirect(reverse("admin:automation_workflow_change", args=[workflow.pk]))


def display_time(value):
    """An ISO timestamp as 'Mon 2026-05-04 09:00:00 -07:00'."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return value
    offset = moment.strftime("%z")
    offset = f"{offset[:3]}:{offset[3:]}" if offset else ""
    return f"{moment:%a %Y-%m-%d %H:%M:%S} {offset}".strip()


def dry_run_view(model_admin, request, object_id):
    """What this workflow would do to lead N now: conditions, gates, actions. Nothing is stored."""
    workflow = object_or_404(Workflow, object_id)
    if not model_admin.has_view_permission(request, workflow):
        raise PermissionDenied
    form = DryRunForm(request.GET or None)
    report = None
    if form.is_valid():
        lead = form.cleaned_data["lead"]
        report = dryrun.explain(workflow, lead, form.facts())
        for action in report.get("actions", []):
            action["label"] = (
                ActionType(action["type"]).label
                if action["type"] in ActionType.values
                else action["type"]
            )
            for key in ("due_at", "due_local", "due_account"):
                action[f"{key}_display"] = display_time(action.get(key))
            send = action.get("send_time") or {}
            send["deferred_to_display"] = display_time(send.get("deferred_to_local"))
        report["account_timezone"] = settings.TIME_ZONE
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": Workflow._meta,
        "original": workflow,
        "title": f"Dry run of “{workflow}”",
        "form": form,
        "report": report,
        "is_popup": IS_POPUP_VAR in request.GET,
    }
    return TemplateResponse(request, "admin/automation/workflow/dry_run.html", context)


# --- Notifications ----------------------------------------------------------------


def acknowledge_view(model_admin, request, object_id):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    notification = object_or_404(Notification, object_id)
    if not model_admin.has_acknowledge_permission(request):
        raise PermissionDenied
    if notification.acknowledged_at is None:
        notification.acknowledged_at = timezone.now()
        notification.acknowledged_by = request.user
        notification.save(update_fields=["acknowledged_at", "acknowledged_by"])
    model_admin.message_user(request, "Notification acknowledged.", messages.SUCCESS)
    return HttpResponseRedirect(safe_next(request, reverse("admin:index")))


def pending_count(queryset, cap=1000):
    """How many pending entries, counted up to `cap` (shown as "1000+")."""
    count = queryset.filter(state=EntryState.PENDING)[: cap + 1].count()
    return f"{cap}+" if count > cap else str(count)
