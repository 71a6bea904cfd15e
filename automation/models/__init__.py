"""Workflows, their conditions and actions, and the rows that record every run.

workflows: Workflow -> EventCondition*, ActionSet* -> Action* (configuration),
WorkflowVersion* (its stored documents).
log: Trigger (one per workflow whose conditions matched an occurrence, with its
outcome), LogEntry (one per scheduled action: the pending-work queue and the log
at once), Notification.
integration: Endpoint/Adaptor (INTEGRATION targets and payload mappings).
health: EndpointBreaker, EndpointAttempt (circuit breaker and recent attempts).
guard: CallingRule, ContactPolicy (the send-time guard's settings).
runtime: Heartbeat, RulesVersion (the processes and the rule index's token).
journal: JournalEntry (every occurrence, for replay), Backtest (a replay's result).
enrollment: Enrollment (a bulk enrollment job, SPEC C.6).
references: WorkflowReference (what a workflow uses: deleting it is refused).
rollups: Rollup, RollupSlice, RollupState (per-workflow hourly counts, automation.insight).
"""

from automation.models.enrollment import Enrollment  # noqa: F401
from automation.models.guard import CallingRule, Channel, ContactPolicy, OverBudget  # noqa: F401
from automation.models.health import EndpointAttempt, EndpointBreaker  # noqa: F401
from automation.models.integration import (  # noqa: F401
    Adaptor,
    BodyFormat,
    Endpoint,
    HttpMethod,
    ResponseFormat,
    UsedByActions,
)
from automation.models.journal import Backtest, BacktestStatus, JournalEntry  # noqa: F401
from automation.models.log import LogEntry, LogEntryQuerySet, Notification, Trigger  # noqa: F401
from automation.models.references import WorkflowReference  # noqa: F401
from automation.models.rollups import (  # noqa: F401
    Rollup,
    RollupKind,
    RollupPending,
    RollupSlice,
    RollupState,
)
from automation.models.runtime import Heartbeat, RulesVersion  # noqa: F401
from automation.models.workflows import (  # noqa: F401
    Action,
    ActionSet,
    EventCondition,
    Workflow,
    WorkflowVersion,
)
