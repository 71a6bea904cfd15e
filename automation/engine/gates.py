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
5. reenrollment       `once`: the lead fired it before; `once_per_days`:
                      within the last N days                         → already_enrolled
6. skip_if_pending    the lead has unexecuted actions of the workflow
                                                                     → skipped_pending
7. rate_limit         RATE_LIMIT_TRIGGERS fired triggers per lead and workflow
                      in any rolling RATE_LIMIT_SECONDS              → rate_limited
8. perform_action_on  the lead's sticky group                        → not_selected
9. loop               an iteration (SPEC C.4) that is the LOOP_LIMIT-th of its
                      chain, or of the workflow within LOOP_WINDOW_SECONDS
                                                                     → loop_disabled

A workflow failing 1–3 is not about this occurrence: it leaves no trigger
record. Gates 4–9 decide the outcome of the trigger that is recorded. The
lasting reasons come first (the lead is stopped, or was enrolled already:
asking again later gives the same answer), then the passing ones (pending
actions, the rate limit), then the sampling, and the loop gate last: it
counts only triggers that would otherwise fire.

Loop protection, exactly (SPEC C.4). A trigger's chain is the sequence of
triggers, for one lead, whose actions caused it (occ.chain: their workflow
ids in order, repetitions kept). A trigger of W is an *iteration* when its
chain already holds W at least twice: its iteration number is that count
minus one (`iteration`). A workflow that re-triggers itself once and then
settles (chain [W]) has no iteration at all, however many leads pass. W is
disabled by the iteration numbered LOOP_LIMIT in one chain, or by the one
that makes LOOP_LIMIT fired iterations of W, across all leads, within the
last LOOP_WINDOW_SECONDS (`window_iterations`: the fired ones before it,
counted by the engine from the trigger records). Both counts decay by
themselves: nothing to reset.

Send-time gates (`before_run`), just before an entry runs, are the send-time
guard, automation.engine.guard: workflow and action still active, stop-if, window
and schedule, DNC, calling rules, contact budget, Skip If Live Call.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, timedelta

from automation.constants import (
    LOOP_LIMIT,
    LOOP_WINDOW_SECONDS,
    RATE_LIMIT_REASON,
    RATE_LIMIT_SECONDS,
    RATE_LIMIT_TRIGGERS,
    Reenrollment,
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

    rule: object  # automation.engine.compiled.Rule
    occ: object  # automation.engine.occurrences.Occurrence
    lead: object  # the lead as the occurrence left it
    before: object  # the lead before the occurrence (`lead` itself when unchanged)
    status_flags: dict  # status code -> (reached, final)
    active: bool = True
    in_scope: bool = True
    pending: bool = False  # the lead has unexecuted entries of this workflow
    fired_recently: int = 0  # fired triggers for the lead in the rate-limit window
    enrolled_at: object = None  # when the lead last fired this workflow (re-enrollment), or None
    window_iterations: int | None = None  # fired iterations of the workflow in the loop window


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


def _reenrollment(s):
    rule, last = s.rule, s.enrolled_at
    if rule.reenrollment == Reenrollment.ALWAYS:
        return True, "always", ""
    if last is None:
        return True, f"{reenrollment_label(rule)}: the lead has not fired it", ""
    label, when = reenrollment_label(rule), f"{last.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    if rule.reenrollment == Reenrollment.ONCE_PER_DAYS:
        days = rule.reenroll_after_days or 0
        if s.occ.occurred_at >= last + timedelta(days=days):
            return True, f"{label}: last fired {when}, {days} or more days ago", ""
    return False, f"{label}: the lead fired it on {when}", f"already enrolled ({label})"


def reenrollment_label(rule):
    if rule.reenrollment == Reenrollment.ONCE_PER_DAYS:
        return f"once every {rule.reenroll_after_days} days"
    return "once per lead" if rule.reenrollment == Reenrollment.ONCE else "always"


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


def iteration(rule, occ):
    """This trigger's iteration number in its chain (SPEC C.4), 0 when it is not one."""
    held = occ.chain.count(rule.id)
    return held - 1 if held >= 2 else 0


def _loop(s):
    number = iteration(s.rule, s.occ)
    if number == 0:
        held = s.occ.chain.count(s.rule.id)
        why = "a re-trigger of itself, not yet repeating" if held else "not caused by itself"
        return True, why, ""
    if number >= LOOP_LIMIT:
        why = f"iteration {number} of its chain (limit {LOOP_LIMIT})"
        return False, why, f"Loop detected: iteration {LOOP_LIMIT} in one chain"
    window = s.window_iterations
    minutes = LOOP_WINDOW_SECONDS // 60
    if window is None:
        return True, f"iteration {number} of its chain (limit {LOOP_LIMIT})", ""
    why = (
        f"iteration {number} of its chain; {window + 1} of {LOOP_LIMIT} iterations "
        f"across leads in the last {minutes} minutes"
    )
    if window + 1 >= LOOP_LIMIT:
        return False, why, f"Loop detected: {LOOP_LIMIT} iterations in {minutes} minutes"
    return True, why, ""


# (gate, check, outcome when it fails): gates 4-9, in order.
ADMISSION: tuple[tuple[str, Callable, str], ...] = (
    ("stop_if", _stop_if, TriggerOutcome.STOPPED),
    ("reenrollment", _reenrollment, TriggerOutcome.ALREADY_ENROLLED),
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
    matched = rule.matches(s.occ, s.lead, s.before)
    checks.append(Check("conditions", matched, "all match" if matched else "not all match (AND)"))
    return checks


def admit(s, explain=False):
    """Gates 4-9 for a workflow whose conditions matched: the trigger's outcome.

    The loop gate reads the workflow-wide count only when `s.window_iterations`
    is given (the engine counts for an iteration that passed gates 4-8).
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
    """All nine gates: the dry run's report, and the outcome the engine would record."""
    checks = applies(s)
    failed = next((c for c in checks if not c.passed), None)
    admitted = admit(s, explain=True)
    checks.extend(admitted.checks)
    if failed is not None:
        outcome = {"active": INACTIVE, "scope": OUT_OF_SCOPE, "conditions": NO_MATCH}[failed.gate]
        return Verdict(outcome, failed.why, tuple(checks))
    return Verdict(admitted.outcome, admitted.reason, tuple(checks))


def needs_loop_count(rule, occ):
    """An iteration: the loop gate needs the workflow's count in the loop window."""
    return iteration(rule, occ) > 0


# --- Send time -----------------------------------------------------------------
# Just before an entry runs (first attempt and every retry): automation.engine.guard,
# the send-time guard (SPEC C.3). These names stay for the callers of the gates.

EntrySnapshot = guard.EntrySnapshot
before_run = guard.decide
