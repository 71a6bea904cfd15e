"""The send-time guard's settings (SPEC C.3): `calling-rules/` and `contact-policies/`.

CRUD, paginated, each write in one transaction; reading needs the model's view
permission, writing its add/change/delete permission (crm.permissions). Bad
values are 400s keyed by the field (`hours`, `blocked_dates`, `state`, …) with
the model's own validation, the same as the admin's.
"""

from rest_framework.routers import DefaultRouter

from automation.api.filters import CallingRuleFilter, ContactPolicyFilter
from automation.models import CallingRule, ContactPolicy
from leads.api import CRMViewSet
from leads.serializers import CRMModelSerializer


class CallingRuleSerializer(CRMModelSerializer):
    class Meta:
        model = CallingRule
        fields = ["id", "name", "state", "timezone", "hours", "blocked_dates", "active"]

    def validate(self, attrs):
        attrs = super().validate(attrs)
        # clean() normalises the state ("tx" → "TX"); keep what it made of it.
        for name in ("state", "timezone"):
            if attrs.get(name):
                attrs[name] = attrs[name].strip()
        if attrs.get("state"):
            attrs["state"] = attrs["state"].upper()
        return attrs


class ContactPolicySerializer(CRMModelSerializer):
    class Meta:
        model = ContactPolicy
        fields = ["id", "campaign", "channel", "max_per_24h", "max_per_7d", "over_budget"]
        validators = []  # the model's clean() says which policy already exists


class CallingRuleViewSet(CRMViewSet):
    """When outreach may reach leads of a state or a time zone."""

    queryset = CallingRule.objects.order_by("id")
    serializer_class = CallingRuleSerializer
    filterset_class = CallingRuleFilter
    ordering_fields = ["id", "name", "state", "timezone"]


class ContactPolicyViewSet(CRMViewSet):
    """How often a lead may be contacted per channel (default, or per campaign)."""

    queryset = ContactPolicy.objects.order_by("id")
    serializer_class = ContactPolicySerializer
    filterset_class = ContactPolicyFilter
    ordering_fields = ["id", "channel"]


router = DefaultRouter()
router.register("calling-rules", CallingRuleViewSet, basename="calling-rule")
router.register("contact-policies", ContactPolicyViewSet, basename="contact-policy")
