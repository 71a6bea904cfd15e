"""One FilterSet per model, shared by the API (and matching the admin's filters)."""

import django_filters

from automation.constants import ActionType, EntryState, TriggerOutcome
from automation.models import LogEntry, Notification, Trigger


class LogEntryFilter(django_filters.FilterSet):
    workflow = django_filters.NumberFilter(field_name="workflow_id")
    lead = django_filters.NumberFilter(field_name="lead_id")
    list = django_filters.NumberFilter(field_name="list_id")
    action_type = django_filters.MultipleChoiceFilter(choices=ActionType.choices)
    state = django_filters.MultipleChoiceFilter(choices=EntryState.choices)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    due_after = django_filters.IsoDateTimeFilter(field_name="due_at", lookup_expr="gte")
    due_before = django_filters.IsoDateTimeFilter(field_name="due_at", lookup_expr="lt")

    class Meta:
        model = LogEntry
        fields = []


class TriggerFilter(django_filters.FilterSet):
    workflow = django_filters.NumberFilter(field_name="workflow_id")
    lead = django_filters.NumberFilter(field_name="lead_id")
    outcome = django_filters.MultipleChoiceFilter(choices=TriggerOutcome.choices)
    occurred_after = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = Trigger
        fields = []


class NotificationFilter(django_filters.FilterSet):
    acknowledged = django_filters.BooleanFilter(
        field_name="acknowledged_at", lookup_expr="isnull", exclude=True
    )
    workflow = django_filters.NumberFilter(field_name="workflow_id")

    class Meta:
        model = Notification
        fields = []
