"""The workflow API's lifecycle routes (SPEC C.2): versions, restore, clone, unarchive.

A mixin of WorkflowViewSet (automation.api.workflows): its `get_workflow`,
`represent` and `saved` answer for these too.
"""

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from automation.constants import VersionSource
from automation.document import lifecycle
from automation.document.schema import ConfigError
from automation.models import WorkflowVersion
from crm.permissions import requires

# A version's number in a URL: at most 9 digits (a bigger one is no version: 404).
NUMBER = r"(?P<number>[0-9]{1,9})"


class VersionSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="number", read_only=True)
    user = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = WorkflowVersion
        fields = ["version", "created_at", "user", "source", "summary"]
        read_only_fields = fields


class VersionDocumentSerializer(VersionSerializer):
    class Meta(VersionSerializer.Meta):
        fields = [*VersionSerializer.Meta.fields, "document"]
        read_only_fields = fields


class WorkflowLifecycle:
    """Versions, restore, clone and unarchive of one workflow."""

    def get_version(self, workflow, number):
        version = workflow.versions.select_related("user").filter(number=int(number)).first()
        if version is None:
            raise Http404(f"Workflow {workflow.pk} has no version {number}.")
        return version

    @extend_schema(responses=VersionSerializer(many=True))
    @action(detail=True, methods=["get"], permission_classes=[requires("automation.view_workflow")])
    def versions(self, request, pk=None):
        """Every stored version of the workflow, newest first (without their documents)."""
        workflow = self.get_workflow(pk)
        rows = workflow.versions.select_related("user").order_by("-number")
        return Response(VersionSerializer(rows, many=True).data)

    @extend_schema(responses=VersionDocumentSerializer)
    @action(
        detail=True,
        methods=["get"],
        url_path=f"versions/{NUMBER}",
        url_name="version",
        permission_classes=[requires("automation.view_workflow")],
    )
    def version(self, request, pk=None, number=None):
        """One stored version, with its document."""
        version = self.get_version(self.get_workflow(pk), number)
        return Response(VersionDocumentSerializer(version).data)

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    @action(
        detail=True,
        methods=["post"],
        url_path=f"versions/{NUMBER}/restore",
        url_name="version-restore",
        permission_classes=[requires("automation.change_workflow")],
    )
    def restore(self, request, pk=None, number=None):
        """A new version equal to this one (nothing stored when the workflow already is).
        Items still there keep their ids; pending entries of actions it removes are
        cancelled. Answers the workflow's document."""
        workflow = self.get_workflow(pk)
        version = self.get_version(workflow, number)
        try:
            workflow = lifecycle.restore(workflow, version, request.user)
        except ConfigError as exc:
            raise self.config_error(exc) from None
        return Response(self.saved(workflow))

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["post"], permission_classes=[requires("automation.add_workflow")])
    def clone(self, request, pk=None):
        """A new inactive copy named "Copy of …" (numbered when taken), with new ids."""
        workflow = self.get_workflow(pk)
        try:
            copy = lifecycle.clone(workflow, VersionSource.API, request.user)
        except ConfigError as exc:
            raise self.config_error(exc) from None
        return Response(self.saved(copy), status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    @action(
        detail=True, methods=["post"], permission_classes=[requires("automation.change_workflow")]
    )
    def unarchive(self, request, pk=None):
        """Back from the archive, inactive."""
        workflow = self.get_workflow(pk)
        lifecycle.unarchive(workflow)
        return Response(self.represent(workflow))
