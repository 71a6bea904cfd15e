"""Codes and their descriptions, importable and served by `/api/v1/constants/`."""

from django.db import models


class EventType(models.TextChoices):
    DISPOSITION = "DISPOSITION", "Disposition"
    CALL_COUNT = "CALL_COUNT", "Call Count"
    CALL_TYPE = "CALL_TYPE", "Call Type"
    CALLBACK = "CALLBACK", "Callback"
    HOPPER_EXPIRED = "HOPPER_EXPIRED", "Hopper Expired"
    LEAD_ACTION = "LEAD_ACTION", "Lead Action"
    LEAD_FIELDS = "LEAD_FIELDS", "Lead Fields & Call Data"
    LEAD_STATUS = "LEAD_STATUS", "Lead Status"
    REDISPOSITION = "REDISPOSITION", "Redisposition"
    SUBMITTED_BY = "SUBMITTED_BY", "Submitted By"
    TERM_REASON = "TERM_REASON", "Term Reason"


CONNECT_WORKFLOW_EVENTS = {
    "DISPOSITION": "Agent sets a specific call disposition",
    "CALL_COUNT": "Lead has been called a specific number of times (or within a range)",
    "CALL_TYPE": "Call was inbound, outbound, manual, etc.",
    "CALLBACK": "A callback was scheduled for the lead",
    "HOPPER_EXPIRED": "Lead's hopper slot expired without being called",
    "LEAD_ACTION": "A specific action was taken on the lead record",
    "LEAD_FIELDS": "Lead field values match specified criteria",
    "LEAD_STATUS": "Lead's status changes to or from a specific value",
    "REDISPOSITION": "Lead is re-dispositioned after initial setting",
    "SUBMITTED_BY": "Filters by who submitted or created the lead",
    "TERM_REASON": "Call ended with a specific termination reason",
}


class ActionType(models.TextChoices):
    INTEGRATION = "INTEGRATION", "Integration"
    EMAIL = "EMAIL", "Email"
    MOVE = "MOVE", "Move"
    STATUS = "STATUS", "Status Change"
    SMS = "SMS", "SMS"
    VB = "VB", "Voice Broadcast"
    FIELD = "FIELD", "Field"
    CALLBACK = "CALLBACK", "System Callback"
    CALLBACK_UPDATE = "CALLBACK_UPDATE", "Update Callback"
    HOPPER = "HOPPER", "Place Call"
    DNC = "DNC", "Add to DNC"
    REVENUE = "REVENUE", "Add to Revenue"


ACTION_TYPES = {
    "INTEGRATION": "Integration (Convoso Connect): sends the lead to an Endpoint through an Adaptor",
    "EMAIL": "Sends an Email Template, rendered for the lead",
    "MOVE": "Moves the lead to another list",
    "STATUS": "Sets the lead's status",
    "SMS": "Sends a templated SMS through the SMS provider",
    "VB": "Triggers a voice broadcast through the voice broadcast provider",
    "FIELD": "Updates a lead field: set, copy another field, math on numbers, timestamp",
    "CALLBACK": "Schedules a system callback N seconds after the trigger",
    "CALLBACK_UPDATE": "Moves or removes the lead's pending callbacks",
    "HOPPER": "Places the lead back in the dialer hopper",
    "DNC": "Adds the lead's phone number(s) to the Do Not Call list",
    "REVENUE": "Adds a revenue amount to the call log",
}

# Actions that only change our own database: run with their log entry in one
# transaction, exactly once. The others reach the outside world: at least once,
# with an idempotency key.
INTERNAL_ACTIONS = frozenset(
    {"MOVE", "STATUS", "FIELD", "CALLBACK", "CALLBACK_UPDATE", "HOPPER", "DNC", "REVENUE"}
)

# Outreach actions (SPEC C.3) and the contact-budget channel each counts under:
# DNC, calling rules and contact policies apply to these only.
OUTREACH_CHANNELS = {
    "SMS": "sms",
    "VB": "vb",
    "EMAIL": "email",
    "HOPPER": "call",
    "CALLBACK": "call",
}


class Operator(models.TextChoices):
    EQUALS = "equals", "is equal to"
    NOT_EQUALS = "not_equals", "is not equal to"
    GREATER_THAN = "greater_than", "greater than"
    GREATER_THAN_OR_EQUAL = "greater_than_or_equal", "greater than or equal"
    LESS_THAN = "less_than", "less than"
    LESS_THAN_OR_EQUAL = "less_than_or_equal", "less than or equal"
    WITHIN = "within", "within (one of)"
    STARTS_WITH = "starts_with", "starts with"
    CONTAINS = "contains", "contains"
    IS_BLANK = "is_blank", "is blank/empty"
    IS_NOT_BLANK = "is_not_blank", "is not blank"
    IS_NUMERIC = "is_numeric", "is numeric"
    BETWEEN = "between", "between two strings"


OPERATORS = {op.value: op.label for op in Operator}


class Window(models.TextChoices):
    H24 = "24hr", "24hr (always)"
    H9_9 = "9-9", "9:00 AM – 9:00 PM"
    H9_5 = "9-5", "9:00 AM – 5:00 PM"
    H12_5 = "12-5", "12:00 PM – 5:00 PM"
    H12_9 = "12-9", "12:00 PM – 9:00 PM"
    H5_9 = "5-9", "5:00 PM – 9:00 PM"
    H8_9 = "8-9", "8:00 AM – 9:00 PM"


# Window code → (first hour, end hour), local time of the lead, end excluded.
WINDOW_HOURS = {
    "24hr": (0, 24),
    "9-9": (9, 21),
    "9-5": (9, 17),
    "12-5": (12, 17),
    "12-9": (12, 21),
    "5-9": (17, 21),
    "8-9": (8, 21),
}
SCHEDULE_WINDOWS = {w.value: w.label for w in Window}


class Relation(models.TextChoices):
    CAMPAIGN = "campaign", "Campaigns"
    LIST = "list", "Lists"
    QUEUE = "queue", "Queues"
    INBOUND_NUMBER = "inbound_number", "Inbound Numbers"
    EMAIL_TEMPLATE = "email_template", "Email Templates"


# Relations read from the occurrence's call: no call (or the field unset), no match.
Relation.CALL_FIELDS = frozenset({"queue", "inbound_number"})


class RelationMode(models.TextChoices):
    WITHIN = "within", "within (only these)"
    NOT_WITHIN = "not_within", "not within (all but these)"


class StopIf(models.TextChoices):
    NEVER = "never", "Never"
    REACHED_STATUS = "reached_status", "Reached Status"
    FINAL_STATUS = "final_status", "Final Status"
    LEAD_FILTER = "lead_filter", "Advanced Lead Filter matched"


class DelayMode(models.TextChoices):
    IMMEDIATE = "immediate", "Immediately"
    FIXED = "fixed", "After a fixed delay"
    AFTER_LAST_CALLED = "after_last_called", "After the lead's last called time"
    LEAD_FIELD = "lead_field", "Relative to a date field of the lead"


class Direction(models.TextChoices):
    BEFORE = "before", "before"
    AFTER = "after", "after"


class EntryState(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    CANCELLED = "cancelled", "Cancelled"
    FLUSHED = "flushed", "Flushed"
    # Stored by a flood hold (SPEC C.5): waits for an operator's Release
    # (→ pending) or Flush (→ flushed); never claimed by the dispatcher.
    HELD = "held", "Held (flood)"


# Groups of states (set after the class: enum bodies turn tuples into members).
EntryState.TERMINAL = ("succeeded", "failed", "skipped", "cancelled", "flushed")


class BreakerState(models.TextChoices):
    """An endpoint's circuit breaker (SPEC C.5, automation.execution.breaker)."""

    CLOSED = "closed", "Closed (sending)"
    OPEN = "open", "Open (failing: only probes)"
    HALF_OPEN = "half_open", "Half-open (a probe is out)"
    PAUSED = "paused", "Paused by an operator"


class HeartbeatRole(models.TextChoices):
    DISPATCHER = "dispatcher", "Dispatcher"
    CLUSTER = "cluster", "Task cluster"


class TriggerOutcome(models.TextChoices):
    FIRED = "fired", "Fired"
    STOPPED = "stopped", "Stopped"
    RATE_LIMITED = "rate_limited", "Rate limited"
    SKIPPED_PENDING = "skipped_pending", "Skipped (pending actions)"
    NOT_SELECTED = "not_selected", "Not selected (Perform Action On)"
    LOOP_DISABLED = "loop_disabled", "Loop detected: workflow disabled"
    ALREADY_ENROLLED = "already_enrolled", "Already enrolled (re-enrollment)"


class EnrollmentStatus(models.TextChoices):
    """A bulk enrollment job (SPEC C.6)."""

    RUNNING = "running", "Running"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


# A bulk-enrolled lead whose conditions do not hold gets no trigger: the job counts it so.
NOT_MATCHED = "not_matched"


class Reenrollment(models.TextChoices):
    """May a lead fire the workflow again (SPEC C.4)?"""

    ALWAYS = "always", "Always"
    ONCE = "once", "Once per lead, ever"
    ONCE_PER_DAYS = "once_per_days", "Once per lead every N days"


class When(models.TextChoices):
    """When a state condition (Call Count, Lead Fields, Submitted By) matches (SPEC C.4)."""

    IS = "is", "is (whenever the lead is so)"
    BECOMES = "becomes", "becomes (only when this occurrence made it so)"


class OccurrenceKind(models.TextChoices):
    """The kinds of occurrence (leads.signals): which facts can arrive together.

    A call recorded or dispositioned again is a lead save about that call: its own kind,
    since it alone carries the call's facts."""

    CREATE = "create", "Lead created"
    SAVE = "save", "Lead saved"
    CALL = "call", "Call recorded or dispositioned"
    DELETE = "delete", "Lead deleted"
    CALLBACK = "callback", "Callback scheduled"
    HOPPER_EXPIRED = "hopper_expired", "Hopper slot expired"
    # Bulk enrollment (SPEC C.6): an existing lead put through one workflow's gates.
    # No occurrence condition matches it; state conditions ("is") do.
    ENROLL = "enroll", "Enrolled in bulk"


# Occurrence kinds that change the lead (a "becomes" condition needs one).
OccurrenceKind.CHANGES = frozenset({"create", "save", "call"})
OccurrenceKind.ALL = frozenset(OccurrenceKind.values)


# Fixed by the system (SPEC §4.1 and §4.5).
RATE_LIMIT_TRIGGERS = 9
RATE_LIMIT_SECONDS = 180
RATE_LIMIT_REASON = f"{RATE_LIMIT_TRIGGERS} triggers in the last {RATE_LIMIT_SECONDS} s"
# Loop protection (SPEC C.4): a workflow is disabled at its LOOP_LIMIT-th iteration in one
# causal chain, or across all leads within any rolling LOOP_WINDOW_SECONDS.
LOOP_LIMIT = 100
LOOP_WINDOW_SECONDS = 3600


class VersionSource(models.TextChoices):
    """What stored a workflow version (SPEC C.2)."""

    ADMIN = "admin", "Admin"
    API = "api", "API"
    IMPORT = "import", "Import"
    RESTORE = "restore", "Restore"
