"""Where a custom field is named: conditions, stop filters, delays, FIELD actions,
message placeholders, adaptor sources and email templates (SPEC C.2: a declared
field that workflows use cannot be removed)."""

from django.db.models import ProtectedError

from automation.constants import ActionType, EventType
from automation.models import Action, ActionSet, Adaptor, EventCondition, Workflow
from leads import placeholders
from leads.models import EmailTemplate


def names_of(field):
    return {field, f"custom.{field}"}


def in_text(text, field):
    try:
        return field in placeholders.names(text)
    except Exception:  # a text whose syntax is broken names nothing
        return False


def users_of(field):
    """Sorted descriptions ("workflow “Sale follow-up”", "adaptor “Sale payload”", …)
    of everything that names custom field `field`."""
    names = names_of(field)
    workflows = set()
    for workflow_id, config in EventCondition.objects.filter(
        type=EventType.LEAD_FIELDS
    ).values_list("workflow_id", "config"):
        if isinstance(config, dict) and config.get("field") in names:
            workflows.add(workflow_id)
    for workflow_id, conditions in Workflow.objects.exclude(stop_filter=[]).values_list(
        "pk", "stop_filter"
    ):
        if any(isinstance(c, dict) and c.get("field") in names for c in conditions or ()):
            workflows.add(workflow_id)
    workflows |= set(
        ActionSet.objects.filter(delay_field__in=names).values_list("workflow_id", flat=True)
    )
    for workflow_id, type_, config in Action.objects.filter(
        type__in=(ActionType.FIELD, ActionType.SMS, ActionType.VB)
    ).values_list("action_set__workflow_id", "type", "config"):
        config = config if isinstance(config, dict) else {}
        if type_ == ActionType.FIELD:
            used = config.get("field") in names or config.get("source_field") in names
        else:
            used = in_text(config.get("message"), field)
        if used:
            workflows.add(workflow_id)
    found = [
        f"workflow “{name}”"
        for name in Workflow.objects.filter(pk__in=workflows).values_list("name", flat=True)
    ]
    for adaptor in Adaptor.objects.all():
        if any(isinstance(f, dict) and f.get("source") in names for f in adaptor.fields or ()):
            found.append(f"adaptor “{adaptor.name}”")
    for template in EmailTemplate.objects.all():
        if in_text(template.subject, field) or in_text(template.body, field):
            found.append(f"email template “{template.name}”")
    return sorted(found)


def removal_refused(field):
    """The message why custom field `field` cannot be removed or renamed, or ""."""
    users = users_of(field)
    if not users:
        return ""
    return f"The custom field {field!r} is used by {', '.join(users)}: change those first."


def refuse_removal(sender, instance, **kwargs):
    """pre_delete of a CustomField: refused (ProtectedError) while anything names it."""
    message = removal_refused(instance.name)
    if message:
        raise ProtectedError(message, {instance})
