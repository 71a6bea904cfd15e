"""One FilterSet per model, shared by the API (and matching the admin's filters).

Parameters are read through crm.filters (ids, datetimes, no NUL): a bad one is
a 400 naming it.
"""

import django_filters

from automation.constants import ActionType, EntryState, TriggerOutcome
from automation.models import (
    CallingRule,
    Channel,
    ContactPolicy,
    LogEntry,
    Notification,
    OverBudget,
    Trigger,
)
from crm.filters import DateTimeFilter, FilterSet, IdFilter


class LogEntryFilter(FilterSet):
    workflow = IdFilter(field_name="workflow_id")
    lead = IdFilter(field_name="lead_id")
    list = IdFilter(field_name="list_id")
    action_type = django_filters.MultipleChoiceFilter(choices=ActionType.choices)
    state = django_filters.MultipleChoiceFilter(choices=EntryState.choices)
    created_after = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = DateTimeFilter(field_name="created_at", lookup_expr="lt")
    due_after = DateTimeFilter(field_name="due_at", lookup_expr="gte")
    due_before = DateTimeFilter(field_name="due_at", lookup_expr="lt")

    class Meta:
        model = LogEntry
        fields = []


class TriggerFilter(FilterSet):
    workflow = IdFilter(field_name="workflow_id")
    lead = IdFilter(field_name="lead_id")
    outcome = django_filters.MultipleChoiceFilter(choices=TriggerOutcome.choices)
    occurred_after = DateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = DateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = Trigger
        fields = []


class NotificationFilter(FilterSet):
    acknowledged = django_filters.BooleanFilter(
        field_name="acknowledged_at", lookup_expr="isnull", exclude=True
    )
    workflow = IdFilter(field_name="workflow_id")

    class Meta:
        model = Notification
        fields = []


class CallingRuleFilter(django_filters.FilterSet):
    state = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = CallingRule
        fields = ["timezone", "active"]


class ContactPolicyFilter(django_filters.FilterSet):
    channel = django_filters.MultipleChoiceFilter(choices=Channel.choices)
    over_budget = django_filters.ChoiceFilter(choices=OverBudget.choices)
    is_default = django_filters.BooleanFilter(
        field_name="campaign", lookup_expr="isnull", label="Default policy (no campaign)"
    )

    class Meta:
        model = ContactPolicy
        fields = ["campaign"]
