"""What is checked when a workflow is saved (SPEC C.4), from what the registries declare.

1. `impossible_conditions`: conditions no single occurrence can satisfy
   together. Each event type declares the occurrence kinds that carry its fact
   (`EventSpec.carried_by`); two conditions whose kinds do not meet (DISPOSITION
   arrives with a call, CALLBACK with a scheduled callback) make a workflow
   that can never fire: a 400 naming both paths. Queue and inbound-number
   scope counts as a condition carried only by calls (SPEC C.4).
2. `cycle_warnings`: workflows that can keep re-triggering each other. Each
   action type declares the occurrence it causes and what it writes
   (`Executor.effect`), each condition type what it reads and whether such an
   occurrence could satisfy it (`EventSpec.could_follow`). A edges to B when
   one of A's actions can satisfy all of B's conditions. A cycle through the
   saved workflow, among *active* workflows, is a warning (the save
   succeeds) when something in it keeps changing: a non-idempotent action (a
   sum, a stamp, a new callback), or two of its actions writing one field
   with different values (A sets S2, B sets S1). A workflow re-triggered once
   by its own idempotent action settles, and is not warned about.

Pure functions over plain values, but for `cycle_warnings`' one load of the
active workflows' conditions and actions (`load_graph`).
"""

from dataclasses import dataclass, field

from automation.constants import EventType, OccurrenceKind, Relation
from automation.engine.events import EVENTS
from automation.engine.occurrences import UNKNOWN

# A cycle longer than this is not looked for; nor more than MAX_WARNINGS of them.
MAX_CYCLE = 6
MAX_WARNINGS = 5
MAX_PATHS = 20_000  # paths explored at most (a dense graph of state conditions)

KIND_PHRASES = {
    OccurrenceKind.CREATE: "a lead created",
    OccurrenceKind.SAVE: "a lead saved",
    OccurrenceKind.CALL: "a call recorded or dispositioned",
    OccurrenceKind.DELETE: "a lead deleted",
    OccurrenceKind.CALLBACK: "a callback scheduled",
    OccurrenceKind.HOPPER_EXPIRED: "a hopper slot expiring",
    OccurrenceKind.ENROLL: "a bulk enrollment",
}


def kinds_phrase(kinds):
    if kinds == OccurrenceKind.ALL:
        return "any occurrence"
    return " or ".join(KIND_PHRASES[k] for k in OccurrenceKind.values if k in kinds) or "none"


def label(event_type):
    return EventType(event_type).label if event_type in EventType.values else str(event_type)


# --- 1. Impossible condition sets ---------------------------------------------------


def impossible_conditions(events, relation=None, all_campaigns=False):
    """{path: message} for conditions that can never be satisfied together.

    `events`: (path, type, config) of the *active* conditions. Every pair whose
    occurrence kinds do not meet is named, each path with the other in its
    message; if every pair meets but all together do not, the condition that
    empties the intersection is named with those before it.
    """
    kinds = [(path, type_, EVENTS[type_].carried_by(config)) for path, type_, config in events]
    if relation in Relation.CALL_FIELDS and not all_campaigns:
        kinds.insert(0, ("relation", None, frozenset({OccurrenceKind.CALL})))
    errors = {}

    def name(path, type_):
        return f"the {Relation(relation).label.lower()} scope" if type_ is None else label(type_)

    for i, (p1, t1, k1) in enumerate(kinds):
        for p2, t2, k2 in kinds[i + 1 :]:
            if k1 & k2:
                continue
            because = (
                f"{name(p1, t1)} needs {kinds_phrase(k1)}, {name(p2, t2)} needs "
                f"{kinds_phrase(k2)}: no single occurrence carries both, so the workflow "
                "could never fire (use two workflows for OR)"
            )
            add(errors, p1, f"cannot match together with {p2} ({name(p2, t2)}): {because}")
            add(errors, p2, f"cannot match together with {p1} ({name(p1, t1)}): {because}")
    if errors or not kinds:
        return errors
    common, seen = OccurrenceKind.ALL, []
    for path, _, k in kinds:
        common &= k
        if not common:
            others = ", ".join(seen)
            add(errors, path, f"no single occurrence satisfies it together with {others}")
            for other in seen:
                add(errors, other, f"no single occurrence satisfies it together with {path}")
            break
        seen.append(path)
    return errors


def add(errors, path, message):
    errors[path] = f"{errors[path]}; {message}" if path in errors else message


# --- 2. Cycles -----------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """An active workflow as the cycle analysis sees it."""

    id: int
    name: str
    conditions: tuple  # (type, config) of its active conditions
    effects: tuple = field(default=())  # the Effects of its active actions


def could_follow(node, effect):
    """Could the occurrence `effect` causes satisfy all of `node`'s conditions?"""
    if not node.conditions:
        return False
    state_only = all(EVENTS[t].fact is None for t, _ in node.conditions)
    if state_only and effect.kind not in OccurrenceKind.CHANGES:
        return False  # the rule index files it under lead saves (create/save) only
    return all(EVENTS[t].could_follow(c, effect) for t, c in node.conditions)


def edges(a, nodes):
    """[(b, effect)] for every node one of `a`'s actions can trigger."""
    found = []
    for b in nodes:
        for effect in a.effects:
            if could_follow(b, effect):
                found.append((b, effect))
                break
    return found


def keeps_changing(steps):
    """Does a cycle, (node, effect) per step, keep changing the lead (a real loop)?"""
    if any(not effect.idempotent for _, effect in steps):
        return True
    written = {}
    for _, effect in steps:
        for name, value in effect.writes.items():
            if name in written and (value is UNKNOWN or written[name] != value):
                return True
            written.setdefault(name, value)
    return False


def find_cycles(start, nodes):
    """Elementary cycles through `start` that keep changing the lead, shortest first:
    lists of (node, the effect of that node's action that triggers the next)."""
    by_id = {n.id: n for n in nodes}
    if start not in by_id:
        return []
    memo = {}

    def out(node):
        if node.id not in memo:
            memo[node.id] = edges(node, nodes)
        return memo[node.id]

    cycles, explored = [], 0
    # Breadth-first by length, so short cycles are reported before long ones.
    paths = [[(by_id[start], None)]]
    for _ in range(MAX_CYCLE):
        longer = []
        for path in paths:
            node = path[-1][0]
            on_path = {n.id for n, _ in path}
            for nxt, effect in out(node):
                explored += 1
                steps = [*path[:-1], (node, effect)]
                if nxt.id == start:
                    if keeps_changing(steps):
                        cycles.append(steps)
                elif nxt.id not in on_path:
                    longer.append([*steps, (nxt, None)])
            if len(cycles) >= MAX_WARNINGS or explored > MAX_PATHS:
                return cycles[:MAX_WARNINGS]
        paths = longer
    return cycles[:MAX_WARNINGS]


def describe(cycle):
    names = " → ".join([n.name for n, _ in cycle] + [cycle[0][0].name])
    if len(cycle) == 1:
        node, effect = cycle[0]
        return (
            f"Cycle: {node.name} can re-trigger itself: its action ({effect.summary}) changes "
            "what its own conditions read, and changes it again on every run. Loop "
            "protection will disable it after 100 iterations."
        )
    hops = "; ".join(
        f"{node.name}'s action ({effect.summary}) can trigger {cycle[(i + 1) % len(cycle)][0].name}"
        for i, (node, effect) in enumerate(cycle)
    )
    return (
        f"Cycle: {names}. {hops}. They can keep re-triggering each other until loop "
        "protection disables one of them."
    )


def cycle_warnings(workflow):
    """The `warnings` of a save: [{"code": "cycle", "message", "workflows": [ids]}]."""
    if not workflow.active:
        return []  # computed over active workflows only: an inactive one closes no cycle
    nodes = load_graph()
    return [
        {"code": "cycle", "message": describe(c), "workflows": [n.id for n, _ in c]}
        for c in find_cycles(workflow.pk, nodes)
    ]


def load_graph():
    """Every active workflow as a Node: two queries (conditions, actions)."""
    from automation.execution.actions import EXECUTORS
    from automation.models import Action, EventCondition, Workflow

    names = dict(Workflow.objects.filter(active=True).values_list("pk", "name"))
    conditions, effects = {}, {}
    for workflow_id, type_, config in EventCondition.objects.filter(
        workflow__active=True, active=True
    ).values_list("workflow_id", "type", "config"):
        if type_ in EVENTS and isinstance(config, dict):
            conditions.setdefault(workflow_id, []).append((type_, config))
    for workflow_id, type_, config in Action.objects.filter(
        action_set__workflow__active=True, active=True
    ).values_list("action_set__workflow_id", "type", "config"):
        executor = EXECUTORS.get(type_)
        try:
            effect = executor.effect(config) if executor else None
        except (KeyError, TypeError, AttributeError):
            effect = None  # a config validation would refuse: it runs nothing
        if effect is not None:
            effects.setdefault(workflow_id, []).append(effect)
    return [
        Node(pk, name, tuple(conditions.get(pk, ())), tuple(effects.get(pk, ())))
        for pk, name in sorted(names.items())
    ]
