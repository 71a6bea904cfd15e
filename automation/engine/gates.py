"""THE gate pipeline: a plain snapshot in, an outcome and why out.

Pure: no ORM, no clock, no side effects. The engine (automation.engine.handler), the
dry run (automation.document.dryrun) and the runner's send-time check
(automation.execution.runner) all call it, so none of them can tell a rule differently.
What the gates read (pending entries, recent triggers, the loop count) is
fetched by the caller, at the edge, into the snapshot.

Trigger gates, in SPEC order:

1. active             the workflow is on (the rule index holds active ones only)
2. scope              campaign / list / queue / inbound number / email template
3. conditions         every event condition matches (AND)
4. stop_if            the lead was in the stop state already before this
                      occurrence                                     → stopped
5. skip_if_pending    the lead has unexecuted actions of the workflow
                                                                     → skipped_pending
6. rate_limit         RATE_LIMIT_TRIGGERS fired triggers per lead and workflow
                      in any rolling RATE_LIMIT_SECONDS              → rate_limited
7. perform_action_on  the lead's sticky group                        → not_selected
8. loop               the self-re-trigger that reaches LOOP_LIMIT    → loop_disabled

A workflow failing 1–3 is not about this occurrence: it leaves no trigger
record. Gates 4–8 decide the outcome of the trigger that is recorded.

Send-time gates (`before_run`), just before an entry runs, are the send-time
guard, automation.engine.guard: workflow and action still active, stop-if, window
and schedule, DNC, calling rules, contact budget, Skip If Live Call.
"""

from collections.abc import Callable
from dataclasses import dataclass

from automation.constants import (
    LOOP_LIMIT,
    RATE_LIMIT_REASON,
    RATE_LIMIT_SECONDS,
    RATE_LIMIT_TRIGGERS,
    TriggerOutcome,
)
from automation.engine import guard

# Outcomes of gates 1-3 (the dry run reports them; nothing records them).
INACTIVE = "inactive"
OUT_OF_SCOPE = "out_of_scope"
NO_MATCH = "no_match"


@dataclass(frozen=True)
class Snapshot:
    """What the gates read about one workflow, one lead and one occurrence."""

    rule: object  # automation.engine.rules.Rule
    occ: object  # automation.engine.occurrences.Occurrence
    lead: object  # the lead as the occurrence left it
    before: object  # the lead before the occurrence (`lead` itself when unchanged)
    status_flags: dict  # status code -> (reached, final)
    active: bool = True
    in_scope: bool = True
    pending: bool = False  # the lead has unexecuted entries of this workflow
    fired_recently: int = 0  # fired triggers for the lead in the rate-limit window
    loop_iterations: int | None = None  # counted self-re-triggers, this one included


@dataclass(frozen=True)
class Check:
    gate: str
    passed: bool
    why: str


@dataclass(frozen=True)
class Verdict:
    outcome: str  # a TriggerOutcome, or INACTIVE / OUT_OF_SCOPE / NO_MATCH
    reason: str  # why, as stored on the trigger ("" when fired)
    checks: tuple = ()  # every gate evaluated, in order


def stop_label(stop_if):
    """A stop condition as an operator reads it (trigger and entry reasons)."""
    return f"Stop Workflow If: {stop_if.replace('_', ' ')}"


def stopped(rule, lead, status_flags, call=None):
    return rule.stopped(lead, status_flags, call)


def stopped_on_entry(s):
    """In the stop state now *and* before this occurrence.

    An occurrence that brings the lead into the stop state still enters
    (Appendix A: a SALE on a "stop if final status" workflow); one that
    takes it out (a re-opened lead) enters too.
    """
    call = s.occ.call
    if not stopped(s.rule, s.lead, s.status_flags, call):
        return False
    return s.before is s.lead or stopped(s.rule, s.before, s.status_flags, call)


def just_stopped(rule, lead, before, status_flags, call=None):
    """This occurrence brought the lead into the stop state: its pending entries go."""
    if before is lead:
        return False
    return stopped(rule, lead, status_flags, call) and not stopped(rule, before, status_flags, call)


def selected(rule, lead_id):
    return rule.selected(lead_id)


def _stop_if(s):
    entered = stopped_on_entry(s)
    return not entered, s.rule.stop_if, stop_label(s.rule.stop_if)


def _skip_if_pending(s):
    on = s.rule.skip_if_pending
    why = f"{'on' if on else 'off'}; pending actions: {'yes' if s.pending else 'no'}"
    return not (on and s.pending), why, "the lead has unexecuted actions of this workflow"


def _rate_limit(s):
    why = f"{s.fired_recently} of {RATE_LIMIT_TRIGGERS} triggers in the last {RATE_LIMIT_SECONDS} s"
    return s.fired_recently < RATE_LIMIT_TRIGGERS, why, RATE_LIMIT_REASON


def _perform_action_on(s):
    inside = selected(s.rule, s.lead.pk)
    share = s.rule.perform_action_on
    why = f"{share}%: lead {'in' if inside else 'outside'} the group"
    return inside, why, f"outside the {share}% group"


def _loop(s):
    count = s.loop_iterations
    if count is None:
        return True, "not a re-trigger of itself", ""
    why = f"re-triggered itself {count} of {LOOP_LIMIT} times"
    return count < LOOP_LIMIT, why, f"re-triggered itself {LOOP_LIMIT} times: disabled"


# (gate, check, outcome when it fails): gates 4-8, in order.
ADMISSION: tuple[tuple[str, Callable, str], ...] = (
    ("stop_if", _stop_if, TriggerOutcome.STOPPED),
    ("skip_if_pending", _skip_if_pending, TriggerOutcome.SKIPPED_PENDING),
    ("rate_limit", _rate_limit, TriggerOutcome.RATE_LIMITED),
    ("perform_action_on", _perform_action_on, TriggerOutcome.NOT_SELECTED),
    ("loop", _loop, TriggerOutcome.LOOP_DISABLED),
)


def applies(s):
    """Gates 1-3 (active, scope, conditions) as checks; the engine's index has
    already narrowed the candidates, the dry run reports every one."""
    rule = s.rule
    checks = [
        Check("active", s.active, "active" if s.active else "inactive"),
        Check(
            "scope",
            s.in_scope,
            "all campaigns"
            if rule.all_campaigns
            else f"{rule.relation} {rule.relation_mode.replace('_', ' ')} the chosen objects",
        ),
    ]
    matched = rule.matches(s.occ, s.lead)
    checks.append(Check("conditions", matched, "all match" if matched else "not all match (AND)"))
    return checks


def admit(s, explain=False):
    """Gates 4-8 for a workflow whose conditions matched: the trigger's outcome.

    The loop gate counts only when `s.loop_iterations` is given (the engine
    counts a self-re-trigger once it has passed gates 4-7; see `needs_loop_count`).
    With `explain`, every gate is evaluated and reported, as the dry run shows them.
    """
    checks, verdict = [], None
    for gate, check, outcome in ADMISSION:
        passed, why, reason = check(s)
        checks.append(Check(gate, passed, why))
        if not passed and verdict is None:
            verdict = (outcome, reason)
            if not explain:
                break
    outcome, reason = verdict or (TriggerOutcome.FIRED, "")
    return Verdict(outcome, reason, tuple(checks))


def evaluate(s):
    """All eight gates: the dry run's report, and the outcome the engine would record."""
    checks = applies(s)
    failed = next((c for c in checks if not c.passed), None)
    admitted = admit(s, explain=True)
    checks.extend(admitted.checks)
    if failed is not None:
        outcome = {"active": INACTIVE, "scope": OUT_OF_SCOPE, "conditions": NO_MATCH}[failed.gate]
        return Verdict(outcome, failed.why, tuple(checks))
    return Verdict(admitted.outcome, admitted.reason, tuple(checks))


def needs_loop_count(rule, occ):
    """A self-re-trigger: the workflow is in the chain that caused this occurrence."""
    return rule.id in occ.chain


# --- Send time -----------------------------------------------------------------
# Just before an entry runs (first attempt and every retry): automation.engine.guard,
# the send-time guard (SPEC C.3). These names stay for the callers of the gates.

EntrySnapshot = guard.EntrySnapshot
before_run = guard.decide
