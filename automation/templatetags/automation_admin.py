"""Template tags of the admin: the unacknowledged-notifications box on the index."""

from django import template

from automation.models import Notification

register = template.Library()

SHOWN = 10


@register.inclusion_tag("admin/automation/notifications_box.html", takes_context=True)
def notifications_box(context):
    """Unacknowledged conflict notifications, newest first, for users who may see them."""
    request = context["request"]
    user = request.user
    if not user.has_perm("automation.view_notification"):
        return {"notifications": []}
    unacknowledged = Notification.objects.filter(acknowledged_at__isnull=True)
    notifications = list(unacknowledged.select_related("workflow", "endpoint")[: SHOWN + 1])
    return {
        "notifications": notifications[:SHOWN],
        "more": len(notifications) > SHOWN,
        "can_acknowledge": user.has_perm("automation.change_notification"),
        "request": request,
        "csrf_token": context.get("csrf_token"),
    }
