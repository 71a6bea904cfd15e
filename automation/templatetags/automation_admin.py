"""Template tags of the admin index: the unacknowledged-notifications box and the
workflows' last-24-hours overview."""

from django import template
from django.utils import timezone

from automation.admin import journey
from automation.admin.logs import short_result
from automation.insight import stats
from automation.models import Notification, Workflow

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


OVERVIEW_ROWS = 50


@register.inclusion_tag("admin/automation/workflows_overview.html", takes_context=True)
def workflows_overview(context):
    """The last 24 h of every workflow with something to show (fired, failed or pending),
    most failures first: from the rollups, and the pending entries live."""
    if not context["request"].user.has_perm("automation.view_workflow"):
        return {"shown": False}
    numbers = stats.overview(timezone.now())
    names = dict(Workflow.objects.filter(pk__in=list(numbers)).values_list("pk", "name"))
    rows = sorted(
        ({"id": pk, "name": names[pk], **n} for pk, n in numbers.items() if pk in names),
        key=lambda r: (-r["failed"], -r["fired"], -r["pending"], r["name"]),
    )
    return {"shown": True, "rows": rows[:OVERVIEW_ROWS], "more": len(rows) > OVERVIEW_ROWS}


@register.inclusion_tag("admin/automation/lead_journey.html", takes_context=True)
def lead_journey(context, lead):
    """The lead's journey (automation.admin.journey), one page; `?journey=` pages back."""
    request = context["request"]
    user = request.user
    if not (user.has_perm("automation.view_trigger") and user.has_perm("automation.view_logentry")):
        return {"shown": False}
    cursor = journey.parse_cursor(request.GET.get("journey"))
    rows, older = journey.page(lead.pk, cursor)
    for row in rows:
        if row.kind == "trigger":
            row.what = journey.what_happened(row.obj.occurrence)
        elif row.kind == "entry":
            row.what = short_result(row.obj, 160)
    return {"shown": True, "rows": rows, "older": older, "paged": cursor is not None}
