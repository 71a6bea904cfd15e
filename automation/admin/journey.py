"""The lead's journey on its admin page: "why did this lead get this SMS?" in one place.

A timeline, newest first, of what happened to the lead and what workflows made
of it: its calls, every trigger (each workflow it met, with the outcome and
why, the suppressed ones too: rate-limited, not selected, skipped pending,
stopped, …; with what happened: status before → after, the disposition, the
fields changed), and every log entry that followed (action, state, reason,
result). Each row links to its workflow and to the log filtered to the lead
and that workflow.

Pages are keyset pages (`?journey=<cursor>`): each source is read newest first
through its lead index (trigger_lead_time_idx, entry_lead_time_idx,
call_lead_started_idx), at most one page + 1 rows of each, then merged. Three
queries a page whatever the lead's history.
"""

from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlencode

from django.db.models import Q
from django.urls import reverse

from automation.models import LogEntry, Trigger
from leads.models import Call

PAGE = 25
# Ties on the same instant (a save's trigger and its entries share it), newest
# first: the entries, then the trigger, then the call that caused them.
RANK = {"entry": 2, "trigger": 1, "call": 0}


@dataclass
class Row:
    kind: str
    at: datetime
    pk: int
    obj: object
    links: list = field(default_factory=list)
    what: str = ""  # the row in words (set by the page that shows it)

    @property
    def key(self):
        return (self.at, RANK[self.kind], self.pk)


def cursor_text(row):
    return f"{row.at.isoformat()}|{RANK[row.kind]}|{row.pk}"


def parse_cursor(text):
    """(time, rank, id) from `?journey=`; None for anything else (the first page)."""
    try:
        at, rank, pk = (text or "").split("|")
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            return None
        return moment, int(rank), int(pk)
    except (ValueError, OverflowError):
        return None


def older_than(queryset, time_field, kind, cursor):
    """The rows of one source after `cursor` in the timeline's order."""
    if cursor is None:
        return queryset
    at, rank, pk = cursor
    later = Q(**{f"{time_field}__lt": at})
    if RANK[kind] < rank:
        later |= Q(**{time_field: at})
    elif RANK[kind] == rank:
        later |= Q(**{time_field: at, "pk__lt": pk})
    return queryset.filter(later)


def sources(lead_id):
    return (
        ("trigger", "occurred_at", Trigger.objects.filter(lead_id=lead_id).select_related("workflow")),
        ("entry", "created_at", LogEntry.objects.filter(lead_id=lead_id).select_related("workflow")),
        ("call", "started_at", Call.objects.filter(lead_id=lead_id).select_related("disposition")),
    )  # fmt: skip


def page(lead_id, cursor=None, size=PAGE):
    """(rows newest first, the cursor of the next page or None)."""
    rows = []
    for kind, time_field, queryset in sources(lead_id):
        newest = older_than(queryset, time_field, kind, cursor).order_by(f"-{time_field}", "-pk")
        rows += [Row(kind, getattr(o, time_field), o.pk, o) for o in newest[: size + 1]]
    rows.sort(key=lambda r: r.key, reverse=True)
    shown = rows[:size]
    for row in shown:
        row.links = links(lead_id, row)
    return shown, (cursor_text(shown[-1]) if len(rows) > size else None)


def log_url(lead_id, workflow_id):
    query = urlencode({"lead": lead_id, "workflow": workflow_id})
    return reverse("admin:automation_logentry_changelist") + "?" + query


def links(lead_id, row):
    """(label, url) pairs of a row: itself, its workflow, the filtered log."""
    obj = row.obj
    if row.kind == "call":
        return [("call", reverse("admin:leads_call_change", args=[obj.pk]))]
    own = "automation_trigger_change" if row.kind == "trigger" else "automation_logentry_change"
    out = [(f"#{obj.pk}", reverse(f"admin:{own}", args=[obj.pk]))]
    if obj.workflow is not None:
        out.append(
            (obj.workflow.name, reverse("admin:automation_workflow_change", args=[obj.workflow_id]))
        )
    out.append(("log", log_url(lead_id, obj.workflow_id)))
    return out


def what_happened(occurrence):
    """The trigger's occurrence in words: status change, disposition, call, fields."""
    occurrence = occurrence or {}
    parts = []
    if occurrence.get("lead_action"):
        parts.append(f"lead {occurrence['lead_action']}")
    if occurrence.get("status_from") or occurrence.get("status_to"):
        before = occurrence.get("status_from") or "-"
        parts.append(f"status {before} → {occurrence.get('status_to') or '-'}")
    call = occurrence.get("call") or {}
    if call:
        parts.append(f"call #{call.get('id')} ({call.get('call_type') or '?'})")
    if occurrence.get("disposition"):
        previous = occurrence.get("previous_disposition")
        parts.append(
            f"disposition {previous} → {occurrence['disposition']}"
            if previous
            else f"disposition {occurrence['disposition']}"
        )
    if occurrence.get("changed_fields"):
        parts.append("changed: " + ", ".join(occurrence["changed_fields"]))
    return "; ".join(parts)
