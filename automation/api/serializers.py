from rest_framework import serializers

from automation.models import LogEntry, Notification, Trigger
from crm.validation import MAX_ID


class LogEntrySerializer(serializers.ModelSerializer):
    workflow = serializers.IntegerField(source="workflow_id", read_only=True)
    lead = serializers.IntegerField(source="lead_id", read_only=True)
    list = serializers.IntegerField(source="list_id", read_only=True, allow_null=True)
    # null once the action is deleted (the entry keeps its id; the view joins the action).
    action = serializers.IntegerField(source="action.pk", read_only=True, allow_null=True)
    trigger = serializers.IntegerField(source="trigger_id", read_only=True, allow_null=True)

    class Meta:
        model = LogEntry
        fields = [
            "id", "workflow", "lead", "list", "action_type", "action", "state", "reason",
            "due_at", "started_at", "finished_at", "attempts", "result", "trigger", "created_at",
            "idempotency_key", "version",
        ]  # fmt: skip
        read_only_fields = fields


class TriggerSerializer(serializers.ModelSerializer):
    workflow = serializers.IntegerField(source="workflow_id", read_only=True)
    lead = serializers.IntegerField(source="lead_id", read_only=True)

    class Meta:
        model = Trigger
        fields = [
            "id",
            "workflow",
            "lead",
            "occurred_at",
            "occurrence",
            "outcome",
            "reason",
            "chain",
            "loop_iteration",
            "version",
        ]
        read_only_fields = fields


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = [
            "id",
            "workflow",
            "endpoint",
            "created_at",
            "message",
            "chain",
            "acknowledged_at",
            "acknowledged_by",
        ]
        read_only_fields = fields


class FlushSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        max_length=100000,
    )


class HeldSerializer(serializers.Serializer):
    """What a Release or Flush of a flood hold did: one of the two keys."""

    released = serializers.IntegerField(required=False)
    flushed = serializers.IntegerField(required=False)


class DryRunSerializer(serializers.Serializer):
    lead = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    facts = serializers.DictField(required=False, default=dict)
