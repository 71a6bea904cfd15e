"""Bulk enrollment over the API (SPEC C.6).

`POST workflows/{id}/enroll/` (WorkflowViewSet.enroll calls `enroll` here) →
202 with the job; `enrollments/` and `enrollments/{id}/` read jobs;
`POST enrollments/{id}/cancel/` stops one. Filter values are names (lists,
campaigns), status codes and an ISO date-time; the job stores them by id.
"""

from django.http import Http404
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from automation.execution import enrollment as jobs
from automation.models import Enrollment
from automation.models.enrollment import MAX_RATE
from crm.permissions import ModelPermissions, requires
from crm.rest import LimitOffsetPagination
from crm.validation import MAX_LIST_ITEMS, Invalid, check_datetime, parse_int, shown
from leads.models import Campaign, List, Status

FILTER_KEYS = ("list", "campaign", "status", "created_after")
# filter key -> (model, the field its names are, what the job stores)
NAMED = {
    "list": (List, "name", "pk"),
    "campaign": (Campaign, "name", "pk"),
    "status": (Status, "code", "code"),
}

ENROLL = requires("automation.add_enrollment")
CANCEL = requires("automation.change_enrollment")


def names(value, path):
    if not isinstance(value, list) or not value:
        raise Invalid(path, f"must be a non-empty list of names, not {shown(value)}")
    if len(value) > MAX_LIST_ITEMS:
        raise Invalid(path, f"at most {MAX_LIST_ITEMS} names")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise Invalid(f"{path}[{i}]", f"must be a name, not {shown(item)}")
    return value


def read_filter(data, errors):
    """The body's `filter` with names resolved to what the job stores; errors by path."""
    if not isinstance(data, dict):
        errors["filter"] = [f"must be an object ({{}} for every lead), not {shown(data)}"]
        return {}
    cleaned = {}
    for key in data:
        if key not in FILTER_KEYS:
            errors[f"filter.{key}"] = [f"unknown filter; use {', '.join(FILTER_KEYS)}"]
    for key, (model, field, stored) in NAMED.items():
        if key not in data:
            continue
        path = f"filter.{key}"
        try:
            wanted = names(data[key], path)
        except Invalid as exc:
            errors[exc.path] = [exc.message]
            continue
        found = dict(model.objects.filter(**{f"{field}__in": wanted}).values_list(field, stored))
        missing = [name for name in wanted if name not in found]
        if missing:
            errors[path] = [f"unknown {key}: {', '.join(shown(m) for m in missing[:10])}"]
        cleaned[key] = sorted(set(found.values()))
    if "created_after" in data:
        try:
            cleaned["created_after"] = read_datetime(data["created_after"], "filter.created_after")
        except Invalid as exc:
            errors[exc.path] = [exc.message]
    return cleaned


def read_datetime(value, path):
    """An ISO date-time (naive: in the account's zone) as aware ISO text, or Invalid."""
    try:
        parsed = parse_datetime(value) if isinstance(value, str) else None
    except ValueError as exc:  # well-formed but not a real date: 2026-02-30
        raise Invalid(path, f"is not a real date-time: {exc}") from None
    if parsed is None:
        raise Invalid(path, f"must be an ISO date-time, not {shown(value)}")
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return check_datetime(parsed, path).isoformat()


def enroll(workflow, data, user):
    """Start a job from a request body, or raise the 400 naming every bad path."""
    errors = {}
    if not isinstance(data, dict):
        raise ValidationError({"non_field_errors": ["the body must be a JSON object"]})
    if "filter" not in data:
        errors["filter"] = ["required ({} enrolls every lead)"]
    job_filter = read_filter(data.get("filter"), errors) if "filter" in data else {}
    rate = None
    if "rate" not in data:
        errors["rate"] = ["required: leads per second"]
    else:
        try:
            rate = parse_int(data["rate"], "rate", minimum=1, maximum=MAX_RATE)
        except Invalid as exc:
            errors["rate"] = [exc.message]
    if errors:
        raise ValidationError(errors)
    try:
        job = jobs.start(workflow, job_filter, rate, user=user)
    except jobs.Refused as exc:
        raise ValidationError({"workflow": [str(exc)]}) from None
    return Response(represent(job), status=status.HTTP_202_ACCEPTED)


def represent(job):
    return {
        "id": job.pk,
        "workflow": job.workflow_id,
        "status": job.status,
        "matched": job.matched,
        "done": job.done,
        "progress": round(job.progress, 4),
        "outcomes": job.outcomes,
        "rate": job.rate,
        "filter": shown_filter(job.filter),
        "selected": len(job.lead_ids) if job.lead_ids is not None else None,
        "reason": job.reason,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
    }


def shown_filter(job_filter):
    """The stored filter with ids shown by their current names (SPEC C.2: renames break nothing)."""
    shown_ = dict(job_filter)
    for key in ("list", "campaign"):
        if job_filter.get(key):
            model = NAMED[key][0]
            by_id = dict(model.objects.filter(pk__in=job_filter[key]).values_list("pk", "name"))
            shown_[key] = [by_id.get(pk, f"#{pk}") for pk in job_filter[key]]
    return shown_


class EnrollmentViewSet(viewsets.ViewSet):
    """Bulk enrollment jobs: their progress and outcomes; cancel one."""

    queryset = Enrollment.objects.all()  # for ModelPermissions (reading needs view_enrollment)
    permission_classes = [ModelPermissions]

    def get_job(self, pk):
        try:
            return Enrollment.objects.get(pk=parse_int(pk, "id", minimum=1))
        except (Invalid, Enrollment.DoesNotExist):
            raise Http404("No enrollment with this id.") from None

    # A plain ViewSet's list is not seen as one: name it, or it collides with retrieve.
    @extend_schema(operation_id="enrollments_list", responses=OpenApiTypes.OBJECT)
    def list(self, request):
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(Enrollment.objects.order_by("-pk"), request, view=self)
        return paginator.get_paginated_response([represent(job) for job in page])

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def retrieve(self, request, pk=None):
        return Response(represent(self.get_job(pk)))

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["post"], permission_classes=[CANCEL])
    def cancel(self, request, pk=None):
        job = self.get_job(pk)
        if not jobs.cancel(job.pk, request.user):
            raise ValidationError({"status": [f"the enrollment is {job.status}, not running"]})
        job.refresh_from_db()
        return Response(represent(job))


router = DefaultRouter()
router.register("enrollments", EnrollmentViewSet, basename="enrollment")
