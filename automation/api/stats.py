"""`workflows/{id}/stats/` (SPEC C.5): its query parameters and response schema.

Answered from the rollups (automation.insight.stats), never by counting the log.
"""

from datetime import UTC, datetime, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from automation.insight import stats
from crm.validation import Invalid, check_datetime, check_text, parse_date, shown

DEFAULT_RANGE = timedelta(days=7)


class ActionStatsSerializer(serializers.Serializer):
    action = serializers.IntegerField(help_text="The action's id.")
    type = serializers.CharField(help_text="The action type (SMS, EMAIL, …).")
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()
    skipped = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    flushed = serializers.IntegerField()
    pending = serializers.IntegerField(help_text="Pending now (not limited to the range).")
    lateness_p50_seconds = serializers.IntegerField(
        allow_null=True, help_text="started_at - due_at, upper bound of its histogram bin."
    )
    lateness_p95_seconds = serializers.IntegerField(allow_null=True)


class SeriesPointSerializer(serializers.Serializer):
    t = serializers.DateTimeField(help_text="Start of the bucket (UTC).")
    fired = serializers.IntegerField()
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField()
    count = serializers.IntegerField()


class StatsSerializer(serializers.Serializer):
    triggers = serializers.DictField(
        child=serializers.IntegerField(), help_text="Triggers by outcome."
    )
    actions = ActionStatsSerializer(many=True)
    series = SeriesPointSerializer(many=True)
    top_reasons = ReasonSerializer(many=True, help_text="Reasons of failed entries, top 10.")


PARAMETERS = [
    OpenApiParameter(
        "since", OpenApiTypes.DATETIME, description="ISO 8601 (or a date); default: until - 7 days"
    ),
    OpenApiParameter("until", OpenApiTypes.DATETIME, description="ISO 8601 (or a date); default: now"),
    OpenApiParameter("bucket", OpenApiTypes.STR, enum=list(stats.BUCKETS), description="hour (default) or day"),
]  # fmt: skip


def moment(raw, name):
    """An aware datetime (or a YYYY-MM-DD date: its midnight UTC); Invalid naming `name`."""
    text = check_text(raw, name).strip()
    if len(text) == 10:
        day = parse_date(text, name)
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    try:
        value = parse_datetime(text)
    except ValueError:
        value = None
    if value is None:
        raise Invalid(name, f"must be an ISO 8601 datetime, not {shown(raw)}")
    if timezone.is_naive(value):
        raise Invalid(name, "must include a UTC offset (for example 2026-12-01T00:00:00Z)")
    return check_datetime(value, name)


def parameters(query, now):
    """(since, until, bucket) from the query string; ValidationError naming the bad one."""
    try:
        until = moment(query["until"], "until") if query.get("until") else now
        since = moment(query["since"], "since") if query.get("since") else until - DEFAULT_RANGE
        bucket = query.get("bucket") or "hour"
        if bucket not in stats.BUCKETS:
            raise Invalid("bucket", f"must be hour or day, not {shown(bucket)}")
        if since >= until:
            raise Invalid("since", "must be before until")
        if until - since > stats.MAX_RANGE:
            raise Invalid("since", f"the range may span at most {stats.MAX_RANGE.days} days")
    except Invalid as exc:
        raise ValidationError({exc.path: [exc.message]}) from None
    return since, until, bucket
