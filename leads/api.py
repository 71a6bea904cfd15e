"""REST endpoints of the CRM domain, mounted at /api/v1/ (SPEC Appendix A).

Every write runs inside one transaction: the workflow engine listens to the
models' signals and writes its trigger records and pending actions in the
same transaction as the change, so a failed request leaves neither behind.
"""

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.exceptions import APIException
from rest_framework.routers import DefaultRouter

from crm.validation import text_problem
from leads import filters, serializers
from leads.models import (
    Call,
    Callback,
    Campaign,
    DncEntry,
    EmailTemplate,
    HopperEntry,
    InboundNumber,
    Lead,
    List,
    Queue,
    Status,
)


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The change conflicts with existing data."
    default_code = "conflict"


def still_used_by(exc):
    """'calls (1), leads (3)' for the objects that block a delete."""
    counts = {}
    for obj in exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects:
        name = obj._meta.verbose_name_plural
        counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{name} ({count})" for name, count in sorted(counts.items()))


class AtomicWritesMixin:
    """Create, update and delete each in one transaction; clashes are 409, not 500."""

    def create(self, request, *args, **kwargs):
        try:
            with transaction.atomic():
                return super().create(request, *args, **kwargs)
        except IntegrityError as exc:
            raise Conflict(f"Conflicts with existing data: {exc}") from None

    def update(self, request, *args, **kwargs):
        try:
            with transaction.atomic():
                return super().update(request, *args, **kwargs)
        except IntegrityError as exc:
            raise Conflict(f"Conflicts with existing data: {exc}") from None

    def destroy(self, request, *args, **kwargs):
        try:
            with transaction.atomic():
                return super().destroy(request, *args, **kwargs)
        except (ProtectedError, RestrictedError) as exc:
            raise Conflict(f"Cannot delete: still used by {still_used_by(exc)}.") from None


class CRMViewSet(AtomicWritesMixin, viewsets.ModelViewSet):
    def get_object(self):
        # The URL's key reaches the database: one holding a NUL (a status code, say) is no key.
        if text_problem(str(self.kwargs.get(self.lookup_url_kwarg or self.lookup_field, ""))):
            raise Http404
        return super().get_object()


class RecordOnceMixin:
    """POST answers 201 when it recorded something, 200 with the existing row when not."""

    def perform_create(self, serializer):
        super().perform_create(serializer)
        self.recorded = serializer.created

    def create(self, request, *args, **kwargs):
        response = super().create(request, *args, **kwargs)
        if not self.recorded:
            response.status_code = status.HTTP_200_OK
        return response


class LeadViewSet(CRMViewSet):
    queryset = Lead.objects.select_related("status").order_by("id")
    serializer_class = serializers.LeadSerializer
    filterset_class = filters.LeadFilter
    ordering_fields = ["id", "created_at", "modified_at", "last_called_at", "called_count"]


@extend_schema_view(
    create=extend_schema(
        responses={201: serializers.CallSerializer, 200: serializers.CallSerializer},
        description="Record a call and update its lead. An `external_id` seen before is "
        "not recorded again: the answer is 200 with the call recorded first.",
    ),
    partial_update=extend_schema(
        description="A changed `disposition` is a redisposition: the lead's status follows."
    ),
)
class CallViewSet(RecordOnceMixin, CRMViewSet):
    queryset = Call.objects.select_related("disposition").order_by("-started_at", "-id")
    serializer_class = serializers.CallSerializer
    filterset_class = filters.CallFilter
    ordering_fields = ["id", "started_at", "ended_at", "length", "revenue"]


class CallbackViewSet(CRMViewSet):
    queryset = Callback.objects.order_by("due_at", "id")
    serializer_class = serializers.CallbackSerializer
    filterset_class = filters.CallbackFilter
    ordering_fields = ["id", "due_at", "created_at"]


class HopperEntryViewSet(CRMViewSet):
    queryset = HopperEntry.objects.order_by("-priority", "inserted_at", "id")
    serializer_class = serializers.HopperEntrySerializer
    filterset_class = filters.HopperEntryFilter
    ordering_fields = ["id", "priority", "inserted_at", "expires_at"]


@extend_schema_view(
    create=extend_schema(
        responses={201: serializers.DncEntrySerializer, 200: serializers.DncEntrySerializer},
        description="Add a number to the global (no campaign) or a campaign's DNC list. "
        "A number already there is not added again: the answer is 200 with the entry.",
    )
)
class DncEntryViewSet(RecordOnceMixin, CRMViewSet):
    queryset = DncEntry.objects.order_by("id")
    serializer_class = serializers.DncEntrySerializer
    filterset_class = filters.DncEntryFilter
    ordering_fields = ["id", "phone_number", "created_at"]


class StatusViewSet(CRMViewSet):
    queryset = Status.objects.all()
    serializer_class = serializers.StatusSerializer
    filterset_class = filters.StatusFilter
    ordering_fields = ["code", "name"]


class ListViewSet(CRMViewSet):
    queryset = List.objects.all()
    serializer_class = serializers.ListSerializer
    filterset_class = filters.ListFilter
    ordering_fields = ["id", "name", "created_at"]


class CampaignViewSet(CRMViewSet):
    queryset = Campaign.objects.all()
    serializer_class = serializers.CampaignSerializer
    filterset_class = filters.CampaignFilter
    ordering_fields = ["id", "name", "created_at"]


class QueueViewSet(CRMViewSet):
    queryset = Queue.objects.all()
    serializer_class = serializers.QueueSerializer
    filterset_class = filters.QueueFilter
    ordering_fields = ["id", "name"]


class InboundNumberViewSet(CRMViewSet):
    queryset = InboundNumber.objects.all()
    serializer_class = serializers.InboundNumberSerializer
    filterset_class = filters.InboundNumberFilter
    ordering_fields = ["id", "number"]


class EmailTemplateViewSet(CRMViewSet):
    queryset = EmailTemplate.objects.all()
    serializer_class = serializers.EmailTemplateSerializer
    filterset_class = filters.EmailTemplateFilter
    ordering_fields = ["id", "name"]


router = DefaultRouter()
router.register("leads", LeadViewSet)
router.register("calls", CallViewSet)
router.register("callbacks", CallbackViewSet)
router.register("hopper", HopperEntryViewSet)
router.register("dnc", DncEntryViewSet)
router.register("statuses", StatusViewSet)
router.register("lists", ListViewSet)
router.register("campaigns", CampaignViewSet)
router.register("queues", QueueViewSet)
router.register("inbound-numbers", InboundNumberViewSet)
router.register("email-templates", EmailTemplateViewSet)
urlpatterns = router.urls
