"""Occurrence → gates → trigger records → pending log entries.

`handle(occ, lead)` runs inside the transaction that changed the lead, so
what it writes commits or rolls back with that change. Steps:

1. Append the occurrence to the journal (automation.engine.journal: what a
   backtest replays). Take this process's compiled rule index
   (automation.engine.rules); nothing more to do without active workflows.
2. Stop Workflow If: when the lead (as saved now) meets a workflow's stop
   condition, cancel that workflow's pending entries for the lead.
3. Candidates: rules filed under one of the occurrence's facts and the
   lead's scope. Conditions: all must match (AND) — plain Python, no queries;
   a "becomes" condition also reads the lead as it was before (previous_state).
4. Gates (automation.engine.gates, the one pipeline the dry run and the runner use
   too): stop-if → re-enrollment → skip if pending → rate limit →
   perform-action-on → loop protection → fired. What they read — when the
   lead last fired each once-only workflow, its pending workflows, its recent
   fired triggers, and for an iteration of a loop the workflow's iterations of
   the last hour — is fetched here, once for all matched workflows; every
   outcome is a Trigger row. A loop gate that closes disables the workflow
   (one conditional UPDATE: exactly one notification however many race).
5. Every trigger record, and for a fired one a pending entry per active
   action with its due time (automation.engine.timing), written in one statement
   (automation.engine.records); entries due now are handed to django-q2 when the
   transaction commits.
"""

import copy
import logging
from dataclasses import replace
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction

from automation.constants import (
    NOT_MATCHED,
    ActionType,
    DelayMode,
    EntryState,
    Reenrollment,
    Relation,
    StopIf,
    TriggerOutcome,
)
from automation.engine import gates, handoff, journal, records, rules, timing
from automation.engine.occurrences import field_value, jsonable

log = logging.getLogger(__name__)

# An immediate entry is handed to django-q2 at commit; the due-time poll
# leaves it alone for this long (it is the safety net if the hand-off failed).
HANDOFF_LEASE = timedelta(seconds=30)


def handle(occ, lead):
    """Evaluate every workflow in scope against one occurrence. Returns the new entries' ids."""
    index = rules.current()
    journal.append(occ, lead)
    if not index.rules:
        return []
    before = None  # made when needed: most saves match nothing and stop nothing
    if occ.lead_action in ("create", "save") and index.stoppers:
        before = previous_state(lead, occ)
        cancel_stopped(index, occ, lead, before)
    matched, before = match(index, occ, lead, before)
    if not matched:
        return []
    return fire(index, matched, occ, lead, before or previous_state(lead, occ))


def match(index, occ, lead, before=None, previous=None):
    """Step 3: the rules of `index` whose scope and conditions the occurrence meets,
    and the lead before it (made by `previous`, default previous_state, when a
    "becomes" condition needs it; else `before` as given)."""
    candidates, scope = index.candidates(occ, lead)
    if before is None and any(r.becomes for r in candidates):
        before = (previous or previous_state)(lead, occ)
    matched = [
        r for r in candidates if r.in_scope(scope) is not False and r.matches(occ, lead, before)
    ]
    return matched, before


def previous_state(lead, occ, loaded=None):
    """The lead as it was before this occurrence (the stop-if entry gate and
    "becomes" conditions read it); the lead itself when the occurrence changed nothing.
    `loaded`: attname -> the value before (default: as the lead was loaded).

    A save that itself brings the lead to a stop status (a SALE disposition on a
    "stop if final status" workflow — SPEC Appendix A's own example) still
    fires: the lead was not stopped *before*. Later stop statuses cancel.
    """
    if occ.lead_action != "save" or not occ.changed_fields:
        return lead
    loaded = loaded or lead.loaded_value
    before = copy.copy(lead)
    for name in occ.changed_fields:
        attname = lead._meta.get_field(name).attname
        setattr(before, attname, loaded(attname))
    return before


def stopping(index, occ, lead, before):
    """The rules of `index` whose stop condition this occurrence has just met."""
    if before is None or before is lead:
        return []  # nothing changed: the lead cannot have just reached a stop state
    flags = index.status_flags
    return [r for r in index.stoppers if gates.just_stopped(r, lead, before, flags, occ.call)]


def cancel_stopped(index, occ, lead, before=None, now=None):
    """Cancel pending entries of workflows whose stop condition the lead has just met."""
    stopped = stopping(index, occ, lead, before)
    if not stopped:
        return 0
    from automation.models import LogEntry

    reasons = {r.id: f"{gates.stop_label(r.stop_if)} matched" for r in stopped}
    pending = LogEntry.objects.filter(lead_id=lead.pk, state=EntryState.PENDING)
    workflow_ids = set(pending.values_list("workflow_id", flat=True).distinct()) & set(reasons)
    cancelled = 0
    for workflow_id in workflow_ids:
        cancelled += pending.filter(workflow_id=workflow_id).cancel(reasons[workflow_id], now)
    return cancelled


def email_scope(rule, lead):
    """Email-template relation: has the lead been sent one of these templates?"""
    from automation.models import LogEntry

    sent = LogEntry.objects.filter(
        lead_id=lead.pk,
        action_type=ActionType.EMAIL,
        state=EntryState.SUCCEEDED,
        action__config__template__in=list(rule.object_ids),  # EMAIL refers to it by id
    ).exists()
    return sent if rule.relation_mode == "within" else not sent


def fire(index, matched, occ, lead, before=None):
    """Gate each matched rule, then write its trigger and (if fired) its entries."""
    triggers, sets = decide(index, matched, occ, lead, before)
    written = records.write(lead, occ, triggers, sets)
    due_now = [entry_id for entry_id, handed_off in written if handed_off]
    handoff.at_commit(due_now)
    return [entry_id for entry_id, _ in written]


def enroll(occ, lead, rule, index=None):
    """Bulk enrollment of one lead: `enroll_many` of one."""
    return enroll_many([(occ, lead)], rule, index)[0]


def enrolls(index, rule, occ, lead):
    """Does an `enroll` occurrence reach the rule's gates (its scope and conditions)?"""
    return rule.in_scope(index.scope_of(occ, lead)) is not False and rule.matches(occ, lead, lead)


def enroll_many(pairs, rule, index=None):
    """Bulk enrollment (SPEC C.6): `enroll` occurrences, (occ, lead) pairs of distinct
    leads, against ONE workflow's compiled rule, through the same scope, conditions and
    gates as `handle` (steps 3-5), other workflows left out. The occurrence changed
    nothing, so no stop-if cancels and no "becomes" condition matches; occurrence
    conditions find none of their facts in it.

    Each occurrence is journaled for this workflow (automation.engine.journal,
    one statement for the batch). What the gates read is read for all the leads
    at once (`gate_reads`) and what they decide is written in one pair of
    statements (records.write_many): a batch of leads costs a handful of
    statements, not a handful per lead.

    Returns each pair's trigger outcome, or NOT_MATCHED where scope or conditions do not
    hold (then, as for any occurrence, no trigger is written).
    """
    index = index or rules.current()
    journal.append_many(pairs, workflow_id=rule.id)
    outcomes, admitted = [NOT_MATCHED] * len(pairs), []
    for i, (occ, lead) in enumerate(pairs):
        if enrolls(index, rule, occ, lead):
            admitted.append(i)
    if not admitted:
        return outcomes
    now = max(pairs[i][0].occurred_at for i in admitted)
    reads = gate_reads([pairs[i][1].pk for i in admitted], [rule], now)
    items = []
    for i in admitted:
        occ, lead = pairs[i]
        triggers, sets = decide(index, [rule], occ, lead, lead, reads.get(lead.pk, NO_READS))
        if triggers:  # none: an email-template scope the lead is not in
            outcomes[i] = triggers[0][1]
            items.append((lead, occ, triggers, sets))
    written = records.write_many(items)
    handoff.at_commit([entry_id for entry_id, handed_off in written if handed_off])
    return outcomes


# What the gates read for one lead: workflows with its pending entries, its fired
# triggers per workflow in the rate-limit window, when it last fired each once-only one.
NO_READS = (frozenset(), {}, {})


def gate_reads(lead_ids, matched, now):
    """{lead id: (pending, recent, enrolled)} for these leads and rules, one query each."""
    from automation.models import LogEntry

    ids = [r.id for r in matched]
    reads = {lead_id: (set(), {}, {}) for lead_id in lead_ids}
    if any(r.skip_if_pending for r in matched):
        for lead_id, workflow_id in (
            LogEntry.objects.filter(
                lead_id__in=lead_ids,
                workflow_id__in=ids,
                state__in=(EntryState.PENDING, EntryState.RUNNING),
            )
            .values_list("lead_id", "workflow_id")
            .distinct()
        ):
            reads[lead_id][0].add(workflow_id)
    for lead_id, recent in records.fired_recently_of(lead_ids, ids, now).items():
        reads[lead_id][1].update(recent)
    once = [r.id for r in matched if r.reenrollment != Reenrollment.ALWAYS]
    if once:
        for lead_id, enrolled in records.enrolled_of(lead_ids, once).items():
            reads[lead_id][2].update(enrolled)
    return reads


def decide(index, matched, occ, lead, before=None, reads=None):
    """The gates' verdict for each matched rule: (trigger rows, entry sets) for records.write.
    `reads`: what `gate_reads` found for this lead (read here when not given)."""
    if reads is None:
        reads = gate_reads([lead.pk], matched, occ.occurred_at)[lead.pk]
    triggers, sets, due_times = [], [], {}
    for rule, verdict in verdicts(index, matched, occ, lead, before, reads):
        if verdict.outcome == TriggerOutcome.LOOP_DISABLED:
            disable_looping(rule, occ, verdict.reason)
        iteration = gates.iteration(rule, occ)
        triggers.append((rule.id, verdict.outcome, verdict.reason, iteration, rule.version))
        if verdict.outcome == TriggerOutcome.FIRED:
            sets.extend(plan(rule, occ, lead, occ.occurred_at, index, due_times))
    return triggers, sets


def verdicts(index, matched, occ, lead, before, reads, loop_count=None):
    """Gates 4-9 for each matched rule (email-template scope first): [(rule, Verdict)].

    Pure but for the email-template scope and the loop count, an iteration's
    only (`loop_count(workflow id, now)`, default records.loop_window_count):
    what else the gates read is in `reads`. A backtest (automation.insight.backtest)
    passes its simulation's reads and loop count.
    """
    now = occ.occurred_at
    if any(r.relation == Relation.EMAIL_TEMPLATE and not r.all_campaigns for r in matched):
        matched = [
            r
            for r in matched
            if r.relation != Relation.EMAIL_TEMPLATE or r.all_campaigns or email_scope(r, lead)
        ]
    pending, recent, enrolled = reads
    found = []
    for rule in matched:
        snapshot = gates.Snapshot(
            rule=rule,
            occ=occ,
            lead=lead,
            before=before if before is not None else lead,
            status_flags=index.status_flags,
            pending=rule.id in pending,
            fired_recently=recent.get(rule.id, 0),
            enrolled_at=enrolled.get(rule.id),
        )
        verdict = gates.admit(snapshot)
        if verdict.outcome == TriggerOutcome.FIRED and gates.needs_loop_count(rule, occ):
            window = (loop_count or records.loop_window_count)(rule.id, now)
            verdict = gates.admit(replace(snapshot, window_iterations=window))
        found.append((rule, verdict))
    return found


def snapshot(lead):
    """The lead's values, kept on entries of a deleted lead."""
    return {f.attname: jsonable(getattr(lead, f.attname)) for f in lead._meta.concrete_fields}


def due_time(rule, aset, lead, occ, now):
    """When an action set of a fired rule is due for this lead (TimingError if it cannot be)."""
    return timing.due_time(
        now,
        lead.zone,
        aset.delay,
        aset.window,
        rule.schedule,
        last_called_at=lead.last_called_at,
        field_value=field_value(lead, aset.delay.field, occ.call)
        if aset.delay.mode == DelayMode.LEAD_FIELD
        else None,
    )


def plan(rule, occ, lead, now, index, due_times):
    """The pending entries of one fired workflow: a row per action set (for records),
    with its due time and its active actions in order.

    `due_times` memoises due times across the workflows one occurrence fires:
    for one lead at one instant the due time depends only on the action set's
    delay and window and the workflow's schedule, and many workflows share them.
    """
    # The causal chain its actions carry: repetitions kept, they are what loop
    # protection counts (SPEC C.4).
    context = {"chain": [*occ.chain, rule.id]}
    if rule.stop_if != StopIf.NEVER and gates.stopped(rule, lead, index.status_flags, occ.call):
        # Already in the stop state when it fired: only a *later* stop cancels.
        context["stopped_at_trigger"] = True
    if occ.call is not None:
        context["call_id"] = occ.call.get("id")
    if occ.lead_action == "delete":
        context["snapshot"] = snapshot(lead)
    sets = []
    for aset in rule.action_sets:
        if not aset.actions:
            continue
        key = (aset.delay, aset.window, rule.schedule)
        if key not in due_times:
            try:
                due_times[key] = (due_time(rule, aset, lead, occ, now), EntryState.PENDING, "")
            except timing.TimingError as exc:
                due_times[key] = (now, EntryState.SKIPPED, f"cannot compute the due time: {exc}")
        due, state, reason = due_times[key]
        immediate = state == EntryState.PENDING and due <= now
        sets.append(
            {
                "workflow_id": rule.id,
                "state": state,
                "reason": reason,
                "due_at": due,
                "lease_until": now + HANDOFF_LEASE if immediate else None,
                "finished_at": now if state != EntryState.PENDING else None,
                "context": context,
                "actions": aset.action_rows,
            }
        )
    return sets


def disable_looping(rule, occ, why):
    """The loop gate closed: turn the workflow off and notify the account, once.

    The conditional UPDATE (active → inactive) is what makes it once: when
    workers race past the limit together, the second waits for the first's row
    lock and then finds the workflow inactive already (0 rows), so only the
    transaction that turned it off stores the notification and sends the e-mail.
    """
    from automation.models import Notification, Workflow

    names = dict(Workflow.objects.filter(pk__in=set(occ.chain)).values_list("pk", "name"))
    path = " → ".join(names.get(pk, f"#{pk}") for pk in occ.chain[-12:])
    if len(occ.chain) > 12:
        path = f"… {path}"
    reason = (
        f"{why}: its actions keep re-triggering it (chain: {path} → {rule.name}). "
        "Disabled automatically; fix the conditions or actions, then re-enable it."
    )
    won = Workflow.objects.filter(pk=rule.id, active=True).update(
        active=False, disabled_reason=reason
    )
    if not won:
        return False
    Notification.objects.create(
        workflow_id=rule.id, message=f"{rule.name}: {reason}", chain=list(occ.chain)
    )
    rules.bump(workflow_ids=[rule.id])
    if settings.ADMIN_EMAILS:
        subject = f"Workflow disabled: {rule.name}"
        transaction.on_commit(
            lambda: send_mail(subject, reason, None, settings.ADMIN_EMAILS, fail_silently=True)
        )
    log.warning("workflow %s disabled: %s", rule.id, reason)
    return True
