"""`custom-fields/` (SPEC C.2): the custom fields leads may carry, each with its type.

Operators write them (crm.groups). One that a workflow, an adaptor or an email
template names cannot be removed or renamed: a 409 listing what uses it
(automation.document.fields).
"""

from django.db import transaction
from django.db.models import ProtectedError
from rest_framework import serializers
from rest_framework.routers import DefaultRouter

from automation.document.fields import removal_refused
from leads.api import Conflict, CRMViewSet
from leads.models import CustomField
from leads.serializers import CRMModelSerializer


class CustomFieldSerializer(CRMModelSerializer):
    class Meta:
        model = CustomField
        fields = ["id", "name", "label", "type", "choices"]

    def validate_name(self, value):
        renamed = self.instance is not None and value != self.instance.name
        if renamed and (message := removal_refused(self.instance.name)):
            raise serializers.ValidationError(message)
        return value


class CustomFieldViewSet(CRMViewSet):
    """Declared custom fields: `name` (as workflows name it), `label`, `type`, `choices`."""

    queryset = CustomField.objects.order_by("name")
    serializer_class = CustomFieldSerializer
    filterset_fields = ["type"]
    ordering_fields = ["id", "name"]

    def perform_destroy(self, instance):
        try:
            with transaction.atomic():
                instance.delete()
        except ProtectedError as exc:  # what uses it (automation.document.fields)
            raise Conflict(exc.args[0]) from None


router = DefaultRouter()
router.register("custom-fields", CustomFieldViewSet, basename="customfield")
