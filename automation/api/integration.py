"""Endpoints and Adaptors of the INTEGRATION action (SPEC §4.3, Appendix A).

`endpoints/` and `adaptors/`: CRUD, each write in one transaction (CRMViewSet). An
endpoint's `secret` is write-only (the API shows `has_secret`); leave it out
of an update to keep it, send "" to remove it. Bad values are 400s keyed by
the path of the value (`headers.X-Api-Key`, `fields[1].to`).

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
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from automation.execution.actions import integration
from automation.models import Adaptor, Endpoint
from automation.document.schema import ConfigError
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
            "max_attempts", "secret", "has_secret", "active",
        ]  # fmt: skip
        extra_kwargs = {
            "success_key": {
                "help_text": "JSON: a dotted path (result.status); XML: an element path; "
                "text: the key of a key=value pair, or without a success value a substring."
            },
        }

    def get_has_secret(self, endpoint) -> bool:
        return bool(endpoint.secret)

    def validate_url(self, value):
        if not value.lower().startswith(("http://", "https://")):
            raise serializers.ValidationError("Use an http:// or https:// URL.")
        return value

    def validate_auth_query(self, value):
        try:
            return integration.clean_auth_query(value)
        except ConfigError as exc:
            raise serializers.ValidationError(list(exc.errors.values())) from None

    def validate(self, attrs):
        try:
            if "headers" in attrs:
                attrs["headers"] = integration.clean_headers(attrs["headers"])
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
                attrs["fields"] = integration.clean_adaptor_fields(attrs["fields"])
            except ConfigError as exc:
                raise path_errors(exc) from None
        return attrs


class EndpointTestSerializer(serializers.Serializer):
    lead = serializers.IntegerField()
    adaptor = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    send = serializers.BooleanField(default=False)


class AdaptorTestSerializer(serializers.Serializer):
    lead = serializers.IntegerField()


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


class EndpointViewSet(NamedByActions, CRMViewSet):
    queryset = Endpoint.objects.order_by("name")
    serializer_class = EndpointSerializer
    filterset_fields = ["active", "method", "body_format"]
    ordering_fields = ["id", "name"]

    @extend_schema(request=EndpointTestSerializer, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        """The exact request for a lead (its latest call); with send=true, sent once."""
        endpoint = self.get_object()
        params = EndpointTestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
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


class AdaptorViewSet(NamedByActions, CRMViewSet):
    queryset = Adaptor.objects.order_by("name")
    serializer_class = AdaptorSerializer
    ordering_fields = ["id", "name"]

    @extend_schema(request=AdaptorTestSerializer, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        """The payload this adaptor builds for a lead (and its latest call)."""
        adaptor = self.get_object()
        params = AdaptorTestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        lead = lead_or_400(params.validated_data["lead"])
        subject = integration.Subject.of(lead, latest_call(lead))
        try:
            payload = integration.plain(integration.build_payload(adaptor, subject, None, ""))
        except ConfigError as exc:
            raise path_errors(exc) from None
        return Response({"adaptor": adaptor.name, "lead": lead.pk, "payload": payload})


router = DefaultRouter()
router.register("endpoints", EndpointViewSet, basename="endpoint")
router.register("adaptors", AdaptorViewSet, basename="adaptor")
