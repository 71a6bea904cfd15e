"""Endpoints and Adaptors of the INTEGRATION action (SPEC §4.3, Appendix A).

`endpoints/` and `adaptors/`: CRUD, each write in one transaction (CRMViewSet). An
endpoint's `secret` is write-only (the API shows `has_secret`); leave it out
of an update to keep it, send "" to remove it. Bad values are 400s keyed by
the path of the value (`headers.X-Api-Key`, `fields[1].to`).

`GET endpoints/{id}/health/`: the circuit breaker's state, success rate and p95
latency of the last 5 minutes, consecutive failures, last error, when it
opened (SPEC C.5); `POST endpoints/{id}/pause/` and `/resume/` (change
permission) switch it by hand.

`POST endpoints/{id}/test/` {"lead": id, "adaptor": name or null, "send": false}
answers with the exact request the endpoint would receive for that lead (and
its latest call), secrets masked; with `"send": true` it is sent once and the
response and verdict are included. `POST adaptors/{id}/test/` {"lead": id}
shows the adaptor's payload for a lead.

Workflows name endpoints and adaptors by name: renaming one renames it in the
actions that use it, and one still in use cannot be deleted (409).
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from automation.constants import BreakerState
from automation.document.schema import ConfigError
from automation.execution import breaker
from automation.execution.actions import integration, payloads, settings_check
from automation.models import Adaptor, Endpoint
from crm.permissions import requires
from crm.validation import MAX_ID
from leads.api import Conflict, CRMViewSet
from leads.models import Lead


def path_errors(exc):
    """A ConfigError as a 400 body: {path: [message]}."""
    return serializers.ValidationError({path: [message] for path, message in exc.errors.items()})


class EndpointSerializer(serializers.ModelSerializer):
    secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=200,
        trim_whitespace=False,
        help_text="HMAC-SHA256 signing secret. Write-only; omit to keep, '' to remove.",
    )
    has_secret = serializers.SerializerMethodField()

    class Meta:
        model = Endpoint
        fields = [
            "id", "name", "url", "method", "auth_query", "headers", "body_format",
            "response_format", "success_key", "success_value", "timeout_seconds",
            "max_attempts", "secret", "has_secret", "secret_headers", "active",
            "breaker_failures", "breaker_probe_seconds",
        ]  # fmt: skip
        extra_kwargs = {
            "success_key": {
                "help_text": "JSON: a dotted path (result.status); XML: an element path; "
                "text: the key of a key=value pair, or without a success value a substring."
            },
        }

    def get_has_secret(self, endpoint) -> bool:
        return bool(endpoint.secret)

    def to_representation(self, endpoint):
        # Secret values (URL password, auth query values, secret headers) show as ***;
        # sent back unchanged, *** keeps the stored value (`to_internal_value`).
        return {**super().to_representation(endpoint), **settings_check.shown_settings(endpoint)}

    def to_internal_value(self, data):
        if self.instance is not None and isinstance(data, dict):
            url, auth_query, headers = settings_check.restore_masked(
                self.instance, data.get("url"), data.get("auth_query"), data.get("headers")
            )
            data = {**data}
            for name, value in (("url", url), ("auth_query", auth_query), ("headers", headers)):
                if name in data and isinstance(value, str | dict):
                    data[name] = value
        return super().to_internal_value(data)

    def validate_url(self, value):
        if not value.lower().startswith(("http://", "https://")):
            raise serializers.ValidationError("Use an http:// or https:// URL.")
        return value

    def validate_auth_query(self, value):
        try:
            return settings_check.clean_auth_query(value)
        except ConfigError as exc:
            raise serializers.ValidationError(list(exc.errors.values())) from None

    def validate(self, attrs):
        try:
            if "headers" in attrs:
                attrs["headers"] = settings_check.clean_headers(attrs["headers"])
            if "secret_headers" in attrs:
                attrs["secret_headers"] = settings_check.clean_secret_headers(
                    attrs["secret_headers"]
                )
            settings_check.check_credentials(
                attrs.get("url", getattr(self.instance, "url", "")),
                attrs.get("headers", getattr(self.instance, "headers", {})),
            )
        except ConfigError as exc:
            raise path_errors(exc) from None
        key = attrs.get("success_key", getattr(self.instance, "success_key", ""))
        value = attrs.get("success_value", getattr(self.instance, "success_value", ""))
        if value and not key.strip():
            raise serializers.ValidationError(
                {"success_value": ["Name the success_key whose value this is."]}
            )
        return attrs


class AdaptorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Adaptor
        fields = ["id", "name", "fields"]
        extra_kwargs = {
            "fields": {
                "help_text": 'A list of {"source", "to", "default", "date_format"}: source is a '
                "lead field, custom field, call.<field>, status, status_name, agent, workflow, "
                "list_name or campaign; to is one key or several, comma-separated."
            }
        }

    def validate(self, attrs):
        if "fields" in attrs:
            try:
                attrs["fields"] = settings_check.clean_adaptor_fields(attrs["fields"])
            except ConfigError as exc:
                raise path_errors(exc) from None
        return attrs


class EndpointHealthSerializer(serializers.Serializer):
    """SPEC C.5: the endpoint's circuit breaker and its last 5 minutes."""

    state = serializers.ChoiceField(choices=BreakerState.choices)
    success_rate_5m = serializers.FloatField(
        allow_null=True, help_text="Share of 2xx answers among the attempts of the last 5 minutes."
    )
    p95_ms_5m = serializers.IntegerField(
        allow_null=True, help_text="95th percentile of the attempts' duration, last 5 minutes."
    )
    consecutive_failures = serializers.IntegerField(
        help_text="Failed attempts (no answer, timeout, 5xx, 429) since its last answer."
    )
    last_error = serializers.CharField(allow_null=True)
    opened_at = serializers.DateTimeField(allow_null=True)


class EndpointTestSerializer(serializers.Serializer):
    lead = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    adaptor = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    send = serializers.BooleanField(default=False)


class AdaptorTestSerializer(serializers.Serializer):
    lead = serializers.IntegerField(min_value=1, max_value=MAX_ID)


def lead_or_400(lead_id):
    lead = Lead.objects.select_related("status", "list__campaign").filter(pk=lead_id).first()
    if lead is None:
        raise serializers.ValidationError({"lead": [f"no lead with id {lead_id}"]})
    return lead


def latest_call(lead):
    return lead.calls.select_related("disposition", "agent").order_by("-started_at", "-pk").first()


class NamedByActions:
    """Deleting an object that workflows use is a 409 (renames follow into them: the model)."""

    def perform_destroy(self, instance):
        workflows = instance.used_by()
        if workflows:
            raise Conflict(f"Cannot delete: used by the workflows {', '.join(workflows)}.")
        instance.delete()


# Pausing or resuming an endpoint changes it (the admin's buttons need the same).
SWITCH = requires("automation.change_endpoint")


class EndpointViewSet(NamedByActions, CRMViewSet):
    queryset = Endpoint.objects.order_by("name")
    serializer_class = EndpointSerializer
    filterset_fields = ["active", "method", "body_format"]
    ordering_fields = ["id", "name"]

    @extend_schema(request=EndpointTestSerializer, responses=OpenApiTypes.OBJECT)
    @action(
        detail=True, methods=["post"], permission_classes=[requires("automation.view_endpoint")]
    )
    def test(self, request, pk=None):
        """The exact request for a lead (its latest call); with send=true, sent once.

        As in the admin: showing it needs the view permission, sending it the change one."""
        endpoint = self.get_object()
        params = EndpointTestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        if params.validated_data["send"] and not request.user.has_perm(
            "automation.change_endpoint"
        ):
            return Response(
                {"detail": "You may not send test requests to endpoints."},
                status=status.HTTP_403_FORBIDDEN,
            )
        lead = lead_or_400(params.validated_data["lead"])
        adaptor = None
        if name := params.validated_data.get("adaptor"):
            adaptor = Adaptor.objects.filter(name=name).first()
            if adaptor is None:
                raise serializers.ValidationError({"adaptor": [f"no adaptor named {name!r}"]})
        try:
            shown = integration.preview(
                endpoint, adaptor, lead, call=latest_call(lead), send=params.validated_data["send"]
            )
        except ConfigError as exc:
            raise path_errors(exc) from None
        return Response(shown)

    @extend_schema(responses=EndpointHealthSerializer)
    @action(detail=True, methods=["get"])
    def health(self, request, pk=None):
        """The circuit breaker's state and the endpoint's last 5 minutes (SPEC C.5)."""
        return Response(EndpointHealthSerializer(breaker.health(self.get_object())).data)

    @extend_schema(request=None, responses=EndpointHealthSerializer)
    @action(detail=True, methods=["post"], permission_classes=[SWITCH])
    def pause(self, request, pk=None):
        """Stop sending to the endpoint (no probes either) until resumed."""
        return self.switch(request, breaker.pause)

    @extend_schema(request=None, responses=EndpointHealthSerializer)
    @action(detail=True, methods=["post"], permission_classes=[SWITCH])
    def resume(self, request, pk=None):
        """Close the breaker (paused or open): its waiting entries are due at once."""
        return self.switch(request, breaker.resume)

    def switch(self, request, change):
        endpoint = self.get_object()
        change(endpoint, user=request.user.get_username())
        return Response(EndpointHealthSerializer(breaker.health(endpoint)).data)


class AdaptorViewSet(NamedByActions, CRMViewSet):
    queryset = Adaptor.objects.order_by("name")
    serializer_class = AdaptorSerializer
    ordering_fields = ["id", "name"]

    @extend_schema(request=AdaptorTestSerializer, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["post"], permission_classes=[requires("automation.view_adaptor")])
    def test(self, request, pk=None):
        """The payload this adaptor builds for a lead (and its latest call)."""
        adaptor = self.get_object()
        params = AdaptorTestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        lead = lead_or_400(params.validated_data["lead"])
        subject = payloads.Subject.of(lead, latest_call(lead))
        try:
            payload = payloads.plain(payloads.build_payload(adaptor, subject, None, ""))
        except ConfigError as exc:
            raise path_errors(exc) from None
        return Response({"adaptor": adaptor.name, "lead": lead.pk, "payload": payload})


router = DefaultRouter()
router.register("endpoints", EndpointViewSet, basename="endpoint")
router.register("adaptors", AdaptorViewSet, basename="adaptor")
