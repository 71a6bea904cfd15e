"""What every executor is: a config schema plus `execute(run) -> Result`.

Executors never raise for expected failures (bad data, a target that is
down): they return a failed Result with the precise reason, and may ask for a
retry at a later time (`retry_at`). Internal executors change the database
only; the runner wraps them in the transaction that also finishes the entry.
"""

from dataclasses import dataclass, field
from datetime import datetime

from automation.constants import EntryState
from automation.document.schema import UNRESOLVED, Schema, is_id
from crm.masking import NOTHING


@dataclass
class Run:
    """Everything an executor may use. `lead` is locked for internal actions."""

    entry: object  # LogEntry
    lead: object  # Lead, or None when the lead was deleted (see `snapshot`)
    config: dict
    workflow: object
    now: datetime
    call: object = None  # the triggering Call, if any
    snapshot: dict = field(default_factory=dict)  # lead values when it was deleted


@dataclass
class Result:
    state: str = EntryState.SUCCEEDED
    reason: str = ""
    result: dict = field(default_factory=dict)
    retry_at: datetime | None = None  # failed but worth another attempt then

    @classmethod
    def ok(cls, reason="", **result):
        return cls(EntryState.SUCCEEDED, reason, result)

    @classmethod
    def failed(cls, reason, retry_at=None, **result):
        return cls(EntryState.FAILED, reason, result, retry_at)

    @classmethod
    def skipped(cls, reason, **result):
        return cls(EntryState.SKIPPED, reason, result)


class Executor:
    type = ""
    internal = True
    schema = Schema()
    needs_lead = True  # False: can run from the deleted lead's snapshot

    def validate(self, config, path="config", stored=False):
        return self.schema.validate(config, path, stored)

    def effect(self, config):
        """What running it can change that workflows react to (an Effect), or None:
        nothing a workflow condition reads (external actions, DNC, revenue …)."""
        return None

    def execute(self, run: Run) -> Result:
        raise NotImplementedError

    def masker(self, entry):
        """The crm.masking Masker of the secrets this action's results may quote
        (the runner applies it to the reason and result it records)."""
        return NOTHING


def referred(model, value, what):
    """The object a stored config refers to (by id), or the failed Result saying why not."""
    if isinstance(value, dict) and UNRESOLVED in value:
        return Result.failed(
            f"no {what} is named {value[UNRESOLVED]!r}: pick one in the workflow "
            "(the name was stored before workflows referred to objects by id)"
        )
    found = model.objects.filter(pk=value).first() if is_id(value) else None
    if found is None:
        return Result.failed(f"the {what} #{value} no longer exists")
    return found
