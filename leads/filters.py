"""One django-filter FilterSet per CRM model, used by the REST API.

Date ranges are `<field>_after` / `<field>_before` (inclusive). Phone filters
accept any spelling of a number and compare its E.164 form, because that is
what is stored.
"""

import django_filters as filters
from rest_framework.exceptions import ValidationError

from crm.filters import DateTimeFilter, FilterSet
from leads import phones
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


class PhoneFilter(filters.CharFilter):
    """Exact match on the E.164 form of the given number; 400 when it is not a number."""

    def filter(self, qs, value):
        if value in ("", None):
            return qs
        try:
            value = phones.to_e164(value)
        except phones.InvalidPhone as exc:
            raise ValidationError({self.field_name: [str(exc)]}) from None
        return super().filter(qs, value)


class LeadFilter(FilterSet):
    status = filters.ModelMultipleChoiceFilter(queryset=Status.objects.all())
    campaign = filters.ModelChoiceFilter(
        field_name="list__campaign", queryset=Campaign.objects.all()
    )
    phone_number = PhoneFilter()
    alt_phone = PhoneFilter()
    email = filters.CharFilter(lookup_expr="iexact")
    created_after = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = DateTimeFilter(field_name="created_at", lookup_expr="lte")
    modified_after = DateTimeFilter(field_name="modified_at", lookup_expr="gte")
    modified_before = DateTimeFilter(field_name="modified_at", lookup_expr="lte")

    class Meta:
        model = Lead
        fields = ["list", "owner", "state", "postal_code", "timezone", "submitted_by"]


class CallFilter(FilterSet):
    disposition = filters.ModelMultipleChoiceFilter(queryset=Status.objects.all())
    call_type = filters.MultipleChoiceFilter(choices=Call._meta.get_field("call_type").choices)
    started_after = DateTimeFilter(field_name="started_at", lookup_expr="gte")
    started_before = DateTimeFilter(field_name="started_at", lookup_expr="lte")
    live = filters.BooleanFilter(
        field_name="ended_at", lookup_expr="isnull", label="Live (no end time)"
    )

    class Meta:
        model = Call
        fields = [
            "lead",
            "campaign",
            "list",
            "queue",
            "inbound_number",
            "agent",
            "term_reason",
            "external_id",
        ]


class CallbackFilter(FilterSet):
    due_after = DateTimeFilter(field_name="due_at", lookup_expr="gte")
    due_before = DateTimeFilter(field_name="due_at", lookup_expr="lte")

    class Meta:
        model = Callback
        fields = ["lead", "state", "recipient", "agent"]


class HopperEntryFilter(FilterSet):
    class Meta:
        model = HopperEntry
        fields = ["lead", "campaign", "state", "source"]


class DncEntryFilter(FilterSet):
    phone_number = PhoneFilter()
    email = filters.CharFilter(lookup_expr="iexact")
    is_global = filters.BooleanFilter(
        field_name="campaign", lookup_expr="isnull", label="Global (no campaign)"
    )

    class Meta:
        model = DncEntry
        fields = ["campaign", "source"]


class StatusFilter(FilterSet):
    class Meta:
        model = Status
        fields = list(Status.FLAGS)


class ListFilter(FilterSet):
    class Meta:
        model = List
        fields = ["campaign", "active", "name"]


class CampaignFilter(FilterSet):
    class Meta:
        model = Campaign
        fields = ["active", "name"]


class QueueFilter(FilterSet):
    class Meta:
        model = Queue
        fields = ["campaign", "name"]


class InboundNumberFilter(FilterSet):
    number = PhoneFilter()

    class Meta:
        model = InboundNumber
        fields = ["queue"]


class EmailTemplateFilter(FilterSet):
    class Meta:
        model = EmailTemplate
        fields = ["name"]
