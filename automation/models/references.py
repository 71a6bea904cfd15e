"""What a workflow refers to, as rows with foreign keys: deleting a status, list,
campaign, queue, inbound number, email template, endpoint or adaptor that a
workflow uses is refused (PROTECT) rather than silently breaking the workflow.

The configs themselves hold the ids (automation.document.schema.Ref); these rows
are rebuilt from them whenever a workflow is written (automation.document.references).
"""

from django.db import models

from automation.models.integration import Adaptor, Endpoint
from automation.models.workflows import Workflow
from leads.models import Campaign, EmailTemplate, InboundNumber, List, Queue, Status


class WorkflowReference(models.Model):
    """One object one workflow uses, and where (`path`, as the document names it)."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="references")
    path = models.CharField(max_length=200)
    status = models.ForeignKey(Status, models.PROTECT, null=True, related_name="workflow_uses")
    list = models.ForeignKey(List, models.PROTECT, null=True, related_name="workflow_uses")
    campaign = models.ForeignKey(Campaign, models.PROTECT, null=True, related_name="workflow_uses")
    queue = models.ForeignKey(Queue, models.PROTECT, null=True, related_name="workflow_uses")
    inbound_number = models.ForeignKey(
        InboundNumber, models.PROTECT, null=True, related_name="workflow_uses"
    )
    email_template = models.ForeignKey(
        EmailTemplate, models.PROTECT, null=True, related_name="workflow_uses"
    )
    endpoint = models.ForeignKey(Endpoint, models.PROTECT, null=True, related_name="workflow_uses")
    adaptor = models.ForeignKey(Adaptor, models.PROTECT, null=True, related_name="workflow_uses")

    # model label -> the column that refers to it
    COLUMNS = {
        "leads.Status": "status",
        "leads.List": "list",
        "leads.Campaign": "campaign",
        "leads.Queue": "queue",
        "leads.InboundNumber": "inbound_number",
        "leads.EmailTemplate": "email_template",
        "automation.Endpoint": "endpoint",
        "automation.Adaptor": "adaptor",
    }

    class Meta:
        # As a refused delete names it: "still used by workflows (2)" (the API),
        # "Workflow: “Sale follow-up” (action_sets[0].actions[1] (MOVE))" (the admin).
        verbose_name = "workflow"
        verbose_name_plural = "workflows"

    def __str__(self):
        return f"“{self.workflow}” ({self.path})"
