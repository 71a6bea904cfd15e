"""Backtests (SPEC C.6): `POST workflows/backtest/` starts one, `backtests/{id}/` reads it.

A backtest replays the occurrence journal through one workflow, saved
(`{"workflow": id}`) or a draft document (`{"document": {...}}`, validated as
an import would be, nothing saved), over [since, until), in a django-q2 task
(automation.insight.backtest). Operators only: it reads every lead's history.
"""

from django.db import transaction
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from automation.api.stats import DEFAULT_RANGE, moment
from automation.document import document
from automation.document.schema import ConfigError
from automation.insight import backtest
from automation.insight.stats import MAX_RANGE
from automation.models import Backtest, Workflow
from crm.permissions import requires
from crm.validation import Invalid, parse_id

# Who may backtest: those who write workflows (SPEC C.2: the operator, not the viewer).
OPERATE = requires("automation.change_workflow")


def period(data, now):
    """(since, until) of a request body; Invalid naming the bad one."""
    for name in ("since", "until"):
        if data.get(name) is not None and not isinstance(data[name], str):
            raise Invalid(name, "must be an ISO 8601 datetime string")
    until = moment(data["until"], "until") if data.get("until") else now
    since = moment(data["since"], "since") if data.get("since") else until - DEFAULT_RANGE
    if since >= until:
        raise Invalid("since", "must be before until")
    if until - since > MAX_RANGE:
        raise Invalid("since", f"the period may span at most {MAX_RANGE.days} days")
    return since, until


def subject(data):
    """(workflow, document): exactly one of them, the document validated (paths under
    `document.`)."""
    has_doc, has_workflow = data.get("document") is not None, data.get("workflow") is not None
    if has_doc == has_workflow:
        raise ValidationError(
            {"non_field_errors": ["give either `workflow` (an id) or `document` (a draft)"]}
        )
    if has_workflow:
        try:
            pk = parse_id(data["workflow"], "workflow")
        except Invalid as exc:
            raise ValidationError({exc.path: [exc.message]}) from None
        workflow = Workflow.objects.filter(pk=pk).first()
        if workflow is None:
            raise ValidationError({"workflow": [f"no workflow with id {pk}"]})
        return workflow, None
    doc = data["document"]
    if not isinstance(doc, dict):
        raise ValidationError({"document": ["must be a workflow document (a JSON object)"]})
    try:
        document.validate(backtest.draft(doc))
    except ConfigError as exc:
        raise ValidationError(
            {f"document.{p}" if p else "document": [m] for p, m in exc.errors.items()}
        ) from None
    return None, doc


def start(request):
    """The body of `POST workflows/backtest/`: 202 {"id", "status": "running"}."""
    data = request.data
    if not isinstance(data, dict):
        raise ValidationError({"non_field_errors": ["the body must be a JSON object"]})
    try:
        since, until = period(data, timezone.now())
    except Invalid as exc:
        raise ValidationError({exc.path: [exc.message]}) from None
    workflow, doc = subject(data)
    with transaction.atomic():
        bt = backtest.start(since, until, workflow=workflow, doc=doc, user=request.user)
    return Response({"id": bt.pk, "status": bt.status}, status=status.HTTP_202_ACCEPTED)


class BacktestViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """A backtest's progress and result: status, progress, occurrences, leads, outcomes,
    actions, by_hour, sample (SPEC C.6)."""

    queryset = Backtest.objects.all()
    permission_classes = [OPERATE]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def retrieve(self, request, pk=None):
        return Response(backtest.represent(self.get_object()))

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Stop a running backtest (it ends `failed`, error "cancelled")."""
        bt = self.get_object()
        return Response({"cancelled": bool(backtest.cancel(bt))})
