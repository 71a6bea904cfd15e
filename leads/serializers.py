"""REST representations of the CRM domain (SPEC Appendix A, "Other endpoints").

Related objects are ids, except statuses and dispositions, which are their
codes. Validation is the model's: field validators, then `Model.clean()` on
the would-be instance, so the admin and the API reject the same things.
Unknown keys are rejected rather than silently dropped.
"""

import copy
from collections.abc import Mapping

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

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
    custom_field_errors,
    validate_zone,
)


def normalise_phone(value):
    """E.164 form of `value`, or a DRF ValidationError saying why it is not a number."""
    try:
        return phones.to_e164(value)
    except phones.InvalidPhone as exc:
        raise serializers.ValidationError(str(exc)) from None


def json_type(value):
    """The JSON name of a parsed value's type, for error messages."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


class PhoneField(serializers.CharField):
    """A phone number in any common spelling; represented and stored as E.164."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 40)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        return normalise_phone(value) if value else value


class StatusCodeField(serializers.SlugRelatedField):
    """A status named by its code (`SALE`)."""

    def __init__(self, **kwargs):
        super().__init__(slug_field="code", queryset=Status.objects.all(), **kwargs)


class CRMModelSerializer(serializers.ModelSerializer):
    """Rejects unknown keys and runs the model's `clean()` on the would-be instance."""

    def to_internal_value(self, data):
        unknown = {}
        if isinstance(data, Mapping):
            unknown = {key: ["Unknown field."] for key in sorted(set(data) - set(self.fields))}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if unknown and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **unknown}) from None
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value

    def validate(self, attrs):
        attrs = super().validate(attrs)
        instance = copy.copy(self.instance) if self.instance else self.Meta.model()
        for name, value in attrs.items():
            setattr(instance, name, value)
        try:
            instance.clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(serializers.as_serializer_error(exc)) from None
        return attrs


class CampaignSerializer(CRMModelSerializer):
    class Meta:
        model = Campaign
        fields = ["id", "name", "active", "created_at"]


class ListSerializer(CRMModelSerializer):
    class Meta:
        model = List
        fields = ["id", "name", "campaign", "active", "created_at"]


class QueueSerializer(CRMModelSerializer):
    class Meta:
        model = Queue
        fields = ["id", "name", "campaign"]


class InboundNumberSerializer(CRMModelSerializer):
    number = PhoneField()

    class Meta:
        model = InboundNumber
        fields = ["id", "number", "queue", "description"]


class EmailTemplateSerializer(CRMModelSerializer):
    class Meta:
        model = EmailTemplate
        fields = ["id", "name", "subject", "body"]


class StatusSerializer(CRMModelSerializer):
    class Meta:
        model = Status
        fields = ["code", "name", *Status.FLAGS]

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None:
            # The code is the primary key: renaming it would copy the row.
            fields["code"].read_only = True
        return fields


class LeadSerializer(CRMModelSerializer):
    status = StatusCodeField(required=False, allow_null=True)
    phone_number = PhoneField()
    alt_phone = PhoneField(required=False, allow_blank=True)
    timezone = serializers.CharField(
        required=False, allow_blank=True, max_length=64, validators=[validate_zone]
    )
    custom_fields = serializers.JSONField(required=False)

    class Meta:
        model = Lead
        fields = [
            "id", "list", "status", "first_name", "last_name", "phone_number", "alt_phone",
            "email", "address1", "address2", "city", "state", "postal_code", "country",
            "timezone", "owner", "submitted_by", "custom_fields", "called_count",
            "last_called_at", "created_at", "modified_at",
        ]  # fmt: skip
        read_only_fields = ["called_count", "last_called_at", "created_at", "modified_at"]

    def validate_custom_fields(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError(
                f"Expected an object of custom fields, got {json_type(value)}."
            )
        shadowed = sorted(set(value) & {f.name for f in Lead._meta.fields})
        if shadowed:
            raise serializers.ValidationError(
                f"{', '.join(shadowed)}: a lead field of that name exists; use the field itself."
            )
        return value

    def validate(self, attrs):
        if "custom_fields" in attrs:
            problems = custom_field_errors(attrs["custom_fields"])
            if problems:  # each at its own path (SPEC C.2), before the model's clean()
                raise serializers.ValidationError(
                    {f"custom_fields.{name}": [message] for name, message in problems.items()}
                )
        return super().validate(attrs)

    def create(self, validated_data):
        validated_data.setdefault("submitted_by", "api")
        return super().create(validated_data)


class CallSerializer(CRMModelSerializer):
    disposition = StatusCodeField(required=False, allow_null=True)
    external_id = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=100
    )

    class Meta:
        model = Call
        fields = [
            "id", "lead", "campaign", "list", "queue", "inbound_number", "agent", "call_type",
            "disposition", "term_reason", "started_at", "ended_at", "length", "revenue",
            "external_id",
        ]  # fmt: skip
        # `external_id` uniqueness is Call.record's business: a repeat is not an error.
        validators = []

    def validate_lead(self, value):
        if self.instance is not None and value.pk != self.instance.lead_id:
            raise serializers.ValidationError("A call's lead cannot be changed.")
        return value

    def validate_disposition(self, value):
        if self.instance is not None and value is None and self.instance.disposition_id:
            raise serializers.ValidationError(
                "A disposition cannot be removed; set another one to redisposition the call."
            )
        return value

    def validate_external_id(self, value):
        value = value or None
        if (
            value
            and self.instance is not None
            and value != self.instance.external_id
            and Call.objects.filter(external_id=value).exists()
        ):
            raise serializers.ValidationError("Another call has this external id.")
        return value

    def validate(self, attrs):
        attrs = super().validate(attrs)
        started = attrs.get("started_at", getattr(self.instance, "started_at", None))
        ended = attrs.get("ended_at", getattr(self.instance, "ended_at", None))
        if started and ended:
            if ended < started:
                raise serializers.ValidationError({"ended_at": ["Ends before it started."]})
            if "length" not in attrs and not getattr(self.instance, "length", 0):
                attrs["length"] = int((ended - started).total_seconds())
        return attrs

    def create(self, validated_data):
        call, self.created = Call.record(**validated_data)
        return call

    def update(self, instance, validated_data):
        """Save the call; a changed disposition goes through `set_disposition`."""
        status = validated_data.pop("disposition", instance.disposition)
        for name, value in validated_data.items():
            setattr(instance, name, value)
        if status is not None and status.pk != instance.disposition_id:
            instance.set_disposition(status)
        else:
            instance.save()
        return instance


class CallbackSerializer(CRMModelSerializer):
    class Meta:
        model = Callback
        fields = ["id", "lead", "due_at", "recipient", "agent", "note", "state", "created_at"]


class HopperEntrySerializer(CRMModelSerializer):
    class Meta:
        model = HopperEntry
        fields = [
            "id", "lead", "campaign", "priority", "source", "inserted_at", "expires_at", "state",
        ]  # fmt: skip


class DncEntrySerializer(CRMModelSerializer):
    """A number (`phone_number`) or, in its place, an e-mail address (`email`)."""

    phone_number = PhoneField(required=False, allow_blank=True)

    class Meta:
        model = DncEntry
        fields = ["id", "phone_number", "email", "campaign", "reason", "source", "created_at"]
        # Adding a number twice is not an error (DncEntry.add); updates check below.
        validators = []

    def validate(self, attrs):
        if "email" in attrs:
            attrs["email"] = attrs["email"].strip().lower()
        attrs = super().validate(attrs)
        if self.instance is not None:
            phone = attrs.get("phone_number", self.instance.phone_number)
            email = attrs.get("email", self.instance.email)
            campaign = attrs.get("campaign", self.instance.campaign)
            clash = DncEntry.objects.filter(
                phone_number=phone, email=email, campaign=campaign
            ).exclude(pk=self.instance.pk)
            if clash.exists():
                raise serializers.ValidationError(
                    {"phone_number": ["This number or address is already on that DNC list."]}
                )
        return attrs

    def create(self, validated_data):
        validated_data.setdefault("source", "api")
        entry, self.created = DncEntry.add(**validated_data)
        return entry
