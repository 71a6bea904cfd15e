"""What a workflow compiles to: plain, frozen values a lead save evaluates.

`Rule` is one active workflow with its conditions (`Condition`), action sets
(`ActionSetRule`) and actions (`ActionRule`); automation.engine.rules files
them in the per-process index and keeps it current.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from automation.constants import Relation, RelationMode, StopIf
from automation.engine import conditions, timing
from automation.engine.events import EVENTS, became, field_kind
from automation.engine.occurrences import field_value

ALL = ("all",)  # the scope key of rules that apply whatever the lead's scope


def stop_condition_met(stop_if, stop_filter, lead, status_flags, call=None, kinds=None):
    """Stop Workflow If: does the lead, as it is now, meet the stop condition?
    `kinds`: the declared custom fields' types (RuleIndex.field_kinds)."""
    if stop_if == StopIf.NEVER:
        return False
    if stop_if == StopIf.LEAD_FILTER:
        return bool(stop_filter) and all(
            conditions.compare(
                c["operator"],
                field_value(lead, c["field"], call),
                c.get("value"),
                c.get("value2"),
                c.get("values"),
                lead.zone,
                field_kind(c["field"], kinds),
            )
            for c in stop_filter
        )
    flags = status_flags.get(lead.status_id, (False, False))
    return flags[0] if stop_if == StopIf.REACHED_STATUS else flags[1]


@dataclass(frozen=True)
class Condition:
    type: str
    config: dict
    # The declared custom fields' types at compile time ({name: type}): how values compare.
    kinds: dict | None = field(default=None, compare=False, repr=False)
    # (occ, lead) -> bool, with the config read once (EventSpec.prepare): "is".
    test: Callable = field(init=False, compare=False, repr=False)
    # "when": "becomes" (SPEC C.4): `test` must hold now and not before the occurrence.
    becomes: bool = field(init=False, compare=False, repr=False)

    def __post_init__(self):
        spec = EVENTS[self.type]
        object.__setattr__(self, "test", spec.prepare(self.config, self.kinds))
        object.__setattr__(self, "becomes", spec.becomes(self.config))

    def matches(self, occ, lead, before=None):
        """`before`: the lead before the occurrence (engine.previous_state); only
        "becomes" reads it, and None (or `lead` itself) means nothing changed."""
        if not self.test(occ, lead):
            return False
        return not self.becomes or became(self.test, occ, lead, before)

    @property
    def cost(self):
        """Occurrence conditions are a dict lookup; state ones read and compare values."""
        return 0 if EVENTS[self.type].fact else 1


@dataclass(frozen=True)
class ActionRule:
    id: int
    type: str
    skip_if_live_call: bool


@dataclass(frozen=True)
class ActionSetRule:
    id: int
    delay: timing.Delay
    window: str
    actions: tuple
    # (action id, type) of each action in order: what a pending entry is made of.
    action_rows: tuple = field(init=False, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "action_rows", tuple((a.id, a.type) for a in self.actions))


@dataclass(frozen=True)
class Rule:
    """One active workflow, compiled."""

    id: int
    name: str
    relation: str
    relation_mode: str
    object_ids: frozenset
    all_campaigns: bool
    stop_if: str
    stop_filter: tuple
    skip_if_pending: bool
    schedule: timing.Schedule | None
    perform_action_on: int
    conditions: tuple
    action_sets: tuple
    fact: str = "lead_saved"
    discriminator: tuple | None = None
    reenrollment: str = "always"
    reenroll_after_days: int | None = None
    flood_limit: int = 1000  # SPEC C.5 flood hold (automation.engine.flood)
    # The declared custom fields' types at compile time: how the stop filter compares.
    field_kinds: dict | None = field(default=None, compare=False, repr=False)
    # The workflow's version (SPEC C.2): its triggers and entries record it. None: no
    # version stored yet.
    version: int | None = None

    @property
    def becomes(self):
        """Does a condition read the lead's state before the occurrence?"""
        return any(c.becomes for c in self.conditions)

    def scope_keys(self):
        """Where the index files this rule."""
        if self.all_campaigns or self.relation_mode == RelationMode.NOT_WITHIN:
            return [ALL]
        if self.relation == Relation.EMAIL_TEMPLATE:
            return [ALL]
        return [(self.relation, pk) for pk in self.object_ids]

    def in_scope(self, scope):
        """True/False, or None when only the database can tell (email templates)."""
        if self.all_campaigns:
            return True
        if self.relation == Relation.EMAIL_TEMPLATE:
            return None
        value = scope.get(self.relation)
        if value is None and self.relation in Relation.CALL_FIELDS:
            # SPEC C.4: queue / inbound-number scope, within or not within, only
            # matches an occurrence carrying a call with that field set.
            return False
        inside = value in self.object_ids
        return inside if self.relation_mode == RelationMode.WITHIN else not inside

    def matches(self, occ, lead, before=None):
        # A plain loop, not all(<generator>): this runs for every candidate on every save.
        for c in self.conditions:
            if not c.test(occ, lead):
                return False
            if c.becomes and not became(c.test, occ, lead, before):
                return False
        return True

    def stopped(self, lead, status_flags, call=None):
        return stop_condition_met(
            self.stop_if, self.stop_filter, lead, status_flags, call, self.field_kinds
        )

    def selected(self, lead_id):
        """Perform Action On: a stable hash puts a lead in the same group every time."""
        if self.perform_action_on >= 100:
            return True
        digest = hashlib.sha256(f"{self.id}:{lead_id}".encode()).digest()
        return int.from_bytes(digest[:4], "big") % 100 < self.perform_action_on
