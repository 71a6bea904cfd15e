"""The automation API (SPEC Appendix A): workflow documents, logs, triggers, flush, dry run."""

from django.db import transaction
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.views import APIView

from automation import constants
from automation.api import backtest as backtest_api
from automation.api import enrollment as enrollment_api
from automation.api import stats as stats_api
from automation.api.filters import LogEntryFilter, NotificationFilter, TriggerFilter
from automation.api.lifecycle import WorkflowLifecycle
from automation.api.serializers import (
    DryRunSerializer,
    FlushSerializer,
    HeldSerializer,
    LogEntrySerializer,
    NotificationSerializer,
    TriggerSerializer,
)
from automation.constants import VersionSource
from automation.document import analysis, document, dryrun, lifecycle
from automation.document.schema import ConfigError
from automation.engine import flood
from automation.insight import stats as insight
from automation.models import LogEntry, Notification, Trigger, Workflow
from crm.permissions import ModelPermissions, requires
from crm.rest import DateCursorPagination, LimitOffsetPagination
from crm.validation import Invalid, parse_id
from leads.models import Lead


def config_error(exc):
    """A ConfigError as a 400 body: {path: [message]}."""
    return ValidationError(
        {path or "non_field_errors": [message] for path, message in exc.errors.items()}
    )


# Flush, release and "run now" change log entries: the admin's permission for them.
SETTLE = requires("automation.change_logentry")


class NewestFirst(DateCursorPagination):
    """Cursor pages: no COUNT(*) over millions of log rows."""

    ordering = ("-created_at", "-id")


class TriggersNewestFirst(NewestFirst):
    ordering = ("-occurred_at", "-id")


def archived_param(params):
    """`?archived=true` lists the archived workflows; by default (or false) the others."""
    value = params.get("archived", "false").strip().lower()
    if value not in ("true", "false", "1", "0"):
        raise ValidationError({"archived": ["must be true or false"]})
    return value in ("true", "1")


class WorkflowViewSet(WorkflowLifecycle, viewsets.ViewSet):
    """Workflows as one nested JSON document (create, read, update, archive, export, import;
    versions, restore, clone, unarchive: automation.api.lifecycle)."""

    config_error = staticmethod(config_error)

    queryset = Workflow.objects.all()  # for ModelPermissions (reading needs view_workflow)
    permission_classes = [ModelPermissions]

    def get_workflow(self, pk):
        """The workflow of the URL's id; 404 for anything that is not an id of one."""
        try:
            workflow = Workflow.objects.filter(pk=parse_id(pk)).first()
        except Invalid:
            workflow = None
        if workflow is None:
            raise Http404("No workflow with this id.")
        return workflow

    def represent(self, workflow):
        return {
            "id": workflow.pk,
            **document.export(workflow, ids=True),
            "disabled_reason": workflow.disabled_reason,
            "version": workflow.version,
            "archived": workflow.archived,
        }

    def saved(self, workflow):
        """The document of a workflow just saved, with the save's `warnings` (SPEC C.4:
        cycles it closes with active workflows; the save itself succeeded)."""
        return {**self.represent(workflow), "warnings": analysis.cycle_warnings(workflow)}

    @extend_schema(operation_id="workflows_list", responses=OpenApiTypes.OBJECT)
    def list(self, request):
        """A page of workflow documents: {count, next, previous, results} (?limit=, ?offset=;
        ?archived=true: the archived ones, which the default list leaves out)."""
        archived = archived_param(request.query_params)
        workflows = Workflow.objects.filter(archived_at__isnull=not archived).order_by("pk")
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(document.exportable(workflows), request, view=self)
        return paginator.get_paginated_response([self.represent(w) for w in page])

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def retrieve(self, request, pk=None):
        return Response(self.represent(self.get_workflow(pk)))

    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT)
    def create(self, request):
        try:
            workflow = document.save(request.data, user=request.user)
        except ConfigError as exc:
            raise config_error(exc) from None
        return Response(self.saved(workflow), status=status.HTTP_201_CREATED)

    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT)
    def update(self, request, pk=None):
        workflow = self.get_workflow(pk)
        try:
            workflow = document.save(request.data, workflow, user=request.user)
        except ConfigError as exc:
            raise config_error(exc) from None
        return Response(self.saved(workflow))

    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT)
    def partial_update(self, request, pk=None):
        workflow = self.get_workflow(pk)
        if not isinstance(request.data, dict):
            raise ValidationError({"non_field_errors": ["the document must be a JSON object"]})
        # Only the keys sent change: the rest is the stored document, ids included,
        # so its events and actions are left as they are (SPEC C.2).
        merged = {**document.export(workflow, ids=True), **request.data}
        try:
            workflow = document.save(merged, workflow, user=request.user)
        except ConfigError as exc:
            raise config_error(exc) from None
        return Response(self.saved(workflow))

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        """Archives (SPEC C.2): it stops firing, its pending entries are cancelled, its
        triggers and log stay. Erasing it is the admin's purge."""
        lifecycle.archive(self.get_workflow(pk), VersionSource.API, request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @action(detail=False, methods=["get"])
    def export(self, request):
        """Every workflow's document (but the archived ones), for import elsewhere."""
        workflows = document.exportable(Workflow.objects.filter(archived_at__isnull=True))
        return Response({"workflows": [document.export(w) for w in workflows]})

    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT)
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        permission_classes=[requires("automation.add_workflow", "automation.change_workflow")],
    )
    def import_(self, request):
        """Create or update (by name) the workflows of an export. All or nothing."""
        try:
            saved = document.import_documents(request.data, user=request.user)
        except ConfigError as exc:
            raise config_error(exc) from None
        return Response({"imported": [self.saved(w) for w in saved]})

    @extend_schema(request=OpenApiTypes.OBJECT, responses={202: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["post"], permission_classes=[backtest_api.OPERATE])
    def backtest(self, request):
        """Replay the journal through a saved workflow or a draft document (SPEC C.6): 202."""
        return backtest_api.start(request)

    @extend_schema(request=DryRunSerializer, responses=OpenApiTypes.OBJECT)
    @action(
        detail=True,
        methods=["post"],
        url_path="dry-run",
        # Stores nothing: a read, as on the admin's dry-run page.
        permission_classes=[requires("automation.view_workflow")],
    )
    def dry_run(self, request, pk=None):
        """What would this workflow do to this lead now? Nothing is stored or sent."""
        workflow = self.get_workflow(pk)
        params = DryRunSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        lead = Lead.objects.filter(pk=params.validated_data["lead"]).first()
        if lead is None:
            raise ValidationError({"lead": [f"no lead with id {params.validated_data['lead']}"]})
        try:
            with transaction.atomic():
                report = dryrun.explain(workflow, lead, params.validated_data["facts"])
                transaction.set_rollback(True)  # belt and braces: nothing is stored
        except ConfigError as exc:
            raise config_error(exc) from None
        return Response(report)

    @extend_schema(parameters=stats_api.PARAMETERS, responses=stats_api.StatsSerializer)
    @action(detail=True, methods=["get"])
    def stats(self, request, pk=None):
        """What the workflow did over [since, until): triggers by outcome, per-action
        states and lateness, a series per bucket, top failure reasons (SPEC C.5).
        Answered from the hourly rollups (the range is widened to whole hours)."""
        from django.utils import timezone

        workflow = self.get_workflow(pk)
        since, until, bucket = stats_api.parameters(request.query_params, timezone.now())
        return Response(insight.stats(workflow, since, until, bucket))

    @extend_schema(request=None, responses=HeldSerializer)
    @action(detail=True, methods=["post"], permission_classes=[SETTLE])
    def release(self, request, pk=None):
        """Flood hold: the workflow's held entries become pending and run as scheduled."""
        return self.settle(request, pk, flood.release)

    @extend_schema(request=None, responses=HeldSerializer)
    @action(detail=True, methods=["post"], permission_classes=[SETTLE])
    def flush(self, request, pk=None):
        """Flood hold: the workflow's held entries become flushed (they never run)."""
        return self.settle(request, pk, flood.flush)

    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["post"], permission_classes=[enrollment_api.ENROLL])
    def enroll(self, request, pk=None):
        """Bulk enrollment (SPEC C.6): {"filter": {...}, "rate": n} → 202 with the job."""
        return enrollment_api.enroll(self.get_workflow(pk), request.data, request.user)

    def settle(self, request, pk, how):
        workflow = self.get_workflow(pk)
        count = how(workflow.pk, user=request.user)
        key = "released" if how is flood.release else "flushed"
        return Response({key: count})


class LogEntryViewSet(viewsets.ReadOnlyModelViewSet):
    """Workflow log entries: one per scheduled action."""

    queryset = LogEntry.objects.select_related("action")
    serializer_class = LogEntrySerializer
    filterset_class = LogEntryFilter
    pagination_class = NewestFirst
    ordering_fields = ["created_at", "due_at"]

    @extend_schema(request=FlushSerializer, responses=OpenApiTypes.OBJECT)
    @action(detail=False, methods=["post"], permission_classes=[SETTLE])
    def flush(self, request):
        """Flush pending entries, by `ids` or by the same filters as the list. Only pending ones."""
        body = FlushSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        entries = LogEntry.objects.all()
        if "ids" in body.validated_data:
            entries = entries.filter(pk__in=body.validated_data["ids"])
        else:
            filters = LogEntryFilter(request.data, queryset=entries)
            if not filters.is_valid():
                raise ValidationError(filters.errors)
            if not any(request.data.get(k) not in (None, "", []) for k in filters.filters):
                raise ValidationError(
                    {"ids": ["give ids or at least one filter (refusing to flush everything)"]}
                )
            entries = filters.qs
        with transaction.atomic():
            flushed, leads = entries.flush(reason=f"flushed by {request.user.get_username()} (API)")
        return Response({"flushed": flushed, "leads": leads})


class TriggerViewSet(viewsets.ReadOnlyModelViewSet):
    """Trigger records: every workflow whose conditions matched, and what became of it."""

    queryset = Trigger.objects.all()
    serializer_class = TriggerSerializer
    filterset_class = TriggerFilter
    pagination_class = TriggersNewestFirst


class NotificationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Conflict notifications (loop-disabled workflows)."""

    queryset = Notification.objects.all()
    serializer_class = NotificationSerializer
    filterset_class = NotificationFilter

    @extend_schema(request=None, responses=NotificationSerializer)
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[requires("automation.change_notification")],  # as in the admin
    )
    def acknowledge(self, request, pk=None):
        from django.utils import timezone

        notification = self.get_object()
        if notification.acknowledged_at is None:
            notification.acknowledged_at = timezone.now()
            notification.acknowledged_by = request.user
            notification.save()
        return Response(NotificationSerializer(notification).data)


class ConstantsView(APIView):
    """Event types, action types, operators and windows, with their descriptions."""

    # What workflow documents are made of: read with the workflows.
    permission_classes = [requires("automation.view_workflow")]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request):
        return Response(
            {
                "events": constants.CONNECT_WORKFLOW_EVENTS,
                "action_types": constants.ACTION_TYPES,
                "operators": constants.OPERATORS,
                "windows": constants.SCHEDULE_WINDOWS,
                "delay_modes": dict(constants.DelayMode.choices),
                "stop_if": dict(constants.StopIf.choices),
                "relations": dict(constants.Relation.choices),
                "entry_states": dict(constants.EntryState.choices),
                "trigger_outcomes": dict(constants.TriggerOutcome.choices),
                "rate_limit": {
                    "triggers": constants.RATE_LIMIT_TRIGGERS,
                    "seconds": constants.RATE_LIMIT_SECONDS,
                },
                "loop_limit": constants.LOOP_LIMIT,
                "loop_window_seconds": constants.LOOP_WINDOW_SECONDS,
                "reenrollment": dict(constants.Reenrollment.choices),
                "when": dict(constants.When.choices),
            }
        )


router = DefaultRouter()
router.register("workflows", WorkflowViewSet, basename="workflow")
router.register("workflow-logs", LogEntryViewSet, basename="workflow-log")
router.register("workflow-triggers", TriggerViewSet, basename="workflow-trigger")
router.register("notifications", NotificationViewSet, basename="notification")
router.register("backtests", backtest_api.BacktestViewSet, basename="backtest")
