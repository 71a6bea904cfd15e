"""The compiled, cached, per-process rule index.

A lead save must not load workflows from the database. Each process keeps
the active workflows compiled into plain values (`Rule`), filed by the
occurrence fact they need and by scope:

    index.by_fact["disposition"][("campaign", 7)] -> [Rule, …]

so an occurrence only looks at the few rules that could match it: those
filed under one of its facts and under its lead's campaign, list, or the
call's queue / inbound number, plus the unscoped ones (all campaigns, "not
within", email-template relations).

Within a bucket, rules are filed by a Lead Fields condition where an index
can answer it (automation.engine.buckets): found by lookup, not evaluated on
every save. The index only narrows: every rule it returns is evaluated in full.

Keeping it current: every change to a workflow, its conditions, action sets,
actions or relations renews that workflow's `rules_token` (a random number)
and the shared `RulesVersion` token (signals in automation.apps; statuses and
lists renew the EVERYTHING token). A refresher thread per process compares the
version every `CHECK_SECONDS`. When it moved, the database sums the active
workflows' tokens per group of ids (`GROUPS` rows, whatever the number of
workflows); only the groups whose sum or count differs from the index's are
read token by token, and only the workflows whose token moved are compiled
again, into a new index whose touched buckets alone are rebuilt. The
refresher's work stays a few milliseconds at 10,000 workflows, so it takes
little from the saves of its process (they share the interpreter). A save
only reads the index. A process's own change is seen by its next evaluation.
A workflow edited in the admin applies within a second or so in every worker.
"""

import dataclasses
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field

from django.db.models import Count, F, Sum

from automation.constants import Relation, StopIf
from automation.engine import timing
from automation.engine.buckets import Bucket, discriminator
from automation.engine.compiled import ALL, ActionRule, ActionSetRule, Condition, Rule
from automation.engine.events import EVENTS, FACT_PRIORITY

log = logging.getLogger(__name__)

CHECK_SECONDS = 1.0
GROUPS = 256  # workflows are summed per id % GROUPS to find the changed ones


@dataclass
class RuleIndex:
    version: tuple  # the RulesVersion tokens it was compiled at (see read_version)
    rules: dict = field(default_factory=dict)
    tokens: dict = field(default_factory=dict)  # active workflow id -> its rules_token
    digest: dict = field(default_factory=dict)  # id % GROUPS -> (sum of tokens, count)
    by_fact: dict = field(default_factory=dict)
    stoppers: tuple = ()
    status_flags: dict = field(default_factory=dict)  # code -> (reached, final)
    list_campaign: dict = field(default_factory=dict)  # list id -> campaign id
    field_kinds: dict = field(default_factory=dict)  # custom field name -> its declared type

    def scope_of(self, occ, lead):
        call = occ.call or {}
        return {
            Relation.CAMPAIGN: self.list_campaign.get(lead.list_id),
            Relation.LIST: lead.list_id,
            Relation.QUEUE: call.get("queue"),
            Relation.INBOUND_NUMBER: call.get("inbound_number"),
        }

    def candidates(self, occ, lead):
        """Rules filed under one of the occurrence's facts and in the lead's scope."""
        scope = self.scope_of(occ, lead)
        keys = [ALL] + [(rel, pk) for rel, pk in scope.items() if pk is not None]
        seen, found = set(), []
        for fact in occ.facts():
            buckets = self.by_fact.get(fact)
            if not buckets:
                continue
            for key in keys:
                bucket = buckets.get(key)
                if bucket is None:
                    continue
                for rule in bucket.rules_for(occ, lead):
                    if rule.id not in seen:
                        seen.add(rule.id)
                        found.append(rule)
        found.sort(key=lambda r: r.id)
        return found, scope

    def add(self, rule):
        self.rules[rule.id] = rule
        buckets = self.by_fact.setdefault(rule.fact, {})
        for key in rule.scope_keys():
            buckets.setdefault(key, Bucket()).add(rule)

    def seal(self):
        """Done adding: sort what lookups bisect (before any process thread reads it)."""
        for buckets in self.by_fact.values():
            for bucket in buckets.values():
                bucket.seal()
        self.stoppers = tuple(
            sorted(
                (r for r in self.rules.values() if r.stop_if != StopIf.NEVER), key=lambda r: r.id
            )
        )

    def rebuilt(self, version, fresh, drop, tokens):
        """A new index: this one's rules less `drop` (ids), plus `fresh` (Rules).

        Copy on write: only the buckets the dropped and fresh rules are filed
        in are rebuilt; the others are shared with this index, which stays as
        it was (a thread may still be reading it).
        """
        touched = set()
        for rule in [self.rules[pk] for pk in drop if pk in self.rules] + list(fresh):
            touched.update((rule.fact, key) for key in rule.scope_keys())
        index = RuleIndex(version=version, tokens=tokens, digest=dict(self.digest))
        for pk in drop | tokens.keys() - self.tokens.keys():
            old, new = self.tokens.get(pk), tokens.get(pk)
            total, count = index.digest.get(pk % GROUPS, (0, 0))
            total += (new or 0) - (old or 0)
            count += (new is not None) - (old is not None)
            if count:
                index.digest[pk % GROUPS] = (total, count)
            else:
                index.digest.pop(pk % GROUPS, None)
        index.status_flags, index.list_campaign = self.status_flags, self.list_campaign
        index.field_kinds = self.field_kinds  # a declared field's change compiles everything
        index.rules = dict(self.rules)
        for pk in drop:
            index.rules.pop(pk, None)
        index.rules.update((r.id, r) for r in fresh)
        index.by_fact = {fact: dict(buckets) for fact, buckets in self.by_fact.items()}
        for fact, key in touched:
            buckets = index.by_fact.setdefault(fact, {})
            old = buckets.pop(key, None)
            bucket = Bucket()
            for rule in old.members if old else ():
                if rule.id not in drop:
                    bucket.add(rule)
            for rule in fresh:
                if rule.fact == fact and key in rule.scope_keys():
                    bucket.add(rule)
            if bucket.members:
                bucket.seal()
                buckets[key] = bucket
        index.stoppers = tuple(
            sorted(
                [r for r in self.stoppers if r.id not in drop]
                + [r for r in fresh if r.stop_if != StopIf.NEVER],
                key=lambda r: r.id,
            )
        )
        return index


def sums_of(tokens):
    """{id % GROUPS: (sum of the tokens, how many)}: what `refresh` compares."""
    found = {}
    for pk, token in tokens.items():
        total, count = found.get(pk % GROUPS, (0, 0))
        found[pk % GROUPS] = (total + token, count + 1)
    return found


def compile_rules(version, workflows=None):
    """An index of every active workflow (or the given ones), with the statuses'
    flags and the lists' campaigns it reads."""
    from leads.models import List, Status, declared_types

    index = RuleIndex(version=version)
    index.field_kinds = declared_types()
    index.status_flags = {
        code: (reached, final)
        for code, reached, final in Status.objects.values_list("code", "reached", "final")
    }
    index.list_campaign = dict(List.objects.values_list("pk", "campaign_id"))
    found, index.tokens = load_rules(workflows, index.field_kinds)
    index.digest = sums_of(index.tokens)
    for rule in found:
        index.add(rule)
    index.seal()
    return index


def load_rules(workflows=None, kinds=None):
    """Compile every active workflow (or the given ones) with its parts in a handful
    of queries: ([Rule], {workflow id: rules_token}). A workflow without an active
    condition never fires: it has a token but no Rule. Archived workflows are
    inactive (automation.document.lifecycle.archive), and left out besides. `kinds`:
    the declared custom fields' types (read here when not given)."""
    from automation.models import Action, ActionSet, EventCondition, Workflow
    from leads.models import declared_types

    if kinds is None:
        kinds = declared_types()
    if workflows is None:
        # Every active workflow: select their parts by a subquery. An IN list of
        # 10,000 ids costs more to build, send and parse than the rows themselves.
        active = Workflow.objects.filter(active=True, archived_at__isnull=True)
        workflows, wanted = list(active), active.values("pk")
    else:
        workflows = list(workflows)
        wanted = [w.pk for w in workflows]
    events, sets, actions, relations = {}, {}, {}, {}
    # Plain rows, not model instances: there are tens of thousands of them.
    for workflow_id, type_, config in (
        EventCondition.objects.filter(workflow_id__in=wanted, active=True)
        .order_by("position", "id")
        .values_list("workflow_id", "type", "config")
    ):
        events.setdefault(workflow_id, []).append(Condition(type_, config, kinds))
    for pk, action_set_id, type_, skip_if_live_call in (
        Action.objects.filter(action_set__workflow_id__in=wanted, active=True)
        .order_by("position", "id")
        .values_list("pk", "action_set_id", "type", "skip_if_live_call")
    ):
        actions.setdefault(action_set_id, []).append(ActionRule(pk, type_, skip_if_live_call))
    for aset in (
        ActionSet.objects.filter(workflow_id__in=wanted)
        .order_by("position", "id")
        .values(
            "id",
            "workflow_id",
            "window",
            "delay_mode",
            "delay_days",
            "delay_hours",
            "delay_minutes",
            "delay_field",
            "delay_direction",
        )
    ):
        delay = timing.Delay(
            mode=aset["delay_mode"],
            days=aset["delay_days"],
            hours=aset["delay_hours"],
            minutes=aset["delay_minutes"],
            field=aset["delay_field"],
            direction=aset["delay_direction"],
        )
        sets.setdefault(aset["workflow_id"], []).append(
            ActionSetRule(aset["id"], delay, aset["window"], tuple(actions.get(aset["id"], ())))
        )
    used = {w.relation for w in workflows if not w.all_campaigns}
    for relation, attr in Workflow.RELATION_FIELDS.items():
        if relation not in used:
            continue
        through = getattr(Workflow, attr).through
        target = next(f for f in through._meta.get_fields() if f.name not in ("id", "workflow"))
        rows = through.objects.filter(workflow_id__in=wanted).values_list(
            "workflow_id", target.attname
        )
        for workflow_id, pk in rows:
            relations.setdefault((workflow_id, relation), set()).add(pk)

    found, tokens = [], {}
    for w in workflows:
        tokens[w.pk] = w.rules_token
        conds = tuple(sorted(events.get(w.pk, ()), key=lambda c: c.cost))
        if not conds:
            continue  # a workflow without an active condition never fires
        needed = {EVENTS[c.type].fact for c in conds} - {None}
        fact = next((f for f in FACT_PRIORITY if f in needed), "lead_saved")
        rule = Rule(
            id=w.pk,
            name=w.name,
            relation=w.relation,
            relation_mode=w.relation_mode,
            object_ids=frozenset(relations.get((w.pk, w.relation), ())),
            all_campaigns=w.all_campaigns,
            stop_if=w.stop_if,
            stop_filter=tuple(w.stop_filter or ()),
            skip_if_pending=w.skip_if_pending,
            schedule=timing.Schedule(w.schedule_window, tuple(w.schedule_days or ()))
            if w.schedule_enabled
            else None,
            perform_action_on=w.perform_action_on,
            conditions=conds,
            action_sets=tuple(sets.get(w.pk, ())),
            fact=fact,
            discriminator=discriminator(conds),
            reenrollment=w.reenrollment,
            reenroll_after_days=w.reenroll_after_days,
            flood_limit=w.flood_limit,
            version=w.version or None,
            field_kinds=kinds,
        )
        found.append(rule)
    return found, tokens


_state = {"index": None, "checked": 0.0, "stale": False}
_lock = threading.Lock()
_refresher = {"pid": None, "thread": None, "stop": threading.Event()}

# Bring the index up to date in a background thread of each process, so that
# no lead save waits for it (tests turn it off: their data is uncommitted).
BACKGROUND = True

# RulesVersion rows: CHANGED moves on every change; EVERYTHING when what
# changed is not one workflow (statuses, lists): then every rule is compiled.
CHANGED, EVERYTHING = 1, 2


def read_version():
    """(CHANGED token, EVERYTHING token): one cheap query."""
    from automation.models import RulesVersion

    tokens = dict(
        RulesVersion.objects.filter(pk__in=(CHANGED, EVERYTHING)).values_list("pk", "token")
    )
    return (tokens.get(CHANGED), tokens.get(EVERYTHING))


def current():
    """The index for this process.

    A lead save only reads it. A thread of the process (`refresher`) checks
    the version every CHECK_SECONDS and swaps in an up-to-date index; it is
    made here, in the caller, only when there is none yet or this process
    changed a rule itself (`bump`: its next evaluation sees its own change).
    """
    index = _state["index"]
    if (
        index is None
        or _state["stale"]
        or (not refresher_running() and time.monotonic() - _state["checked"] >= CHECK_SECONDS)
    ):
        index = update(own=True)
    return index


def update(own=False):
    """Bring the index up to date. A new EVERYTHING token (or no index yet)
    compiles every workflow; otherwise only the workflows whose rules_token
    moved are compiled again and only their buckets rebuilt (`refresh`):
    milliseconds, not the seconds a whole index takes.

    `own`: for this process's own evaluation, which may see its own change
    not committed yet; the refresher leaves such a change to it.
    """
    with _lock:
        if own:
            _state["stale"] = False
        elif _state["index"] is None or _state["stale"]:
            return _state["index"]
        return _update()


def _update():
    index = _state["index"]
    version = read_version()  # before the workflows' tokens: a change in between is seen next time
    if index is None or index.version[1] != version[1]:
        index = compile_rules(version)
    elif index.version != version:
        index = refresh(index, version)
    _state["index"] = index
    _state["checked"] = time.monotonic()
    return index


def refresher_running():
    """Start this process's refresher thread if it has none (after a fork too)."""
    if not BACKGROUND:
        return False
    pid, thread = os.getpid(), _refresher["thread"]
    if _refresher["pid"] == pid and thread is not None and thread.is_alive():
        return True
    with _lock:
        thread = _refresher["thread"]
        if _refresher["pid"] != pid or thread is None or not thread.is_alive():
            stop = threading.Event()
            thread = threading.Thread(
                target=refresher, args=(stop,), name="rules-refresher", daemon=True
            )
            _refresher.update(pid=pid, thread=thread, stop=stop)
            thread.start()
    return True


def _after_fork():
    # A child of a fork has none of its parent's threads, and a lock one of
    # them held would stay held: start afresh (the index itself is kept).
    global _lock
    _lock = threading.Lock()
    _refresher.update(pid=None, thread=None, stop=threading.Event())


os.register_at_fork(after_in_child=_after_fork)


def stop_refresher():
    """Stop this process's refresher thread (it closes its database connection)."""
    thread = _refresher["thread"]
    _refresher["stop"].set()
    if thread is not None and _refresher["pid"] == os.getpid():
        thread.join()
    _refresher.update(pid=None, thread=None)


def refresher(stop):
    """Every CHECK_SECONDS: bring the index up to date, off the saves' path."""
    from django.db import close_old_connections, connection

    while not stop.wait(CHECK_SECONDS):
        try:
            close_old_connections()
            update()
        except Exception:  # a database that is away: try again next time
            log.warning("could not bring the rule index up to date", exc_info=True)
    connection.close()


def refresh(index, version):
    """`index` with the workflows changed since it was compiled compiled again.

    The database answers which: the sum and count of the active workflows'
    tokens per id group (GROUPS rows); only the groups that differ from the
    index's are read workflow by workflow. A group whose tokens changed yet
    sum as before is missed with odds of 2**-48 per change.
    """
    from automation.models import Workflow

    active = Workflow.objects.filter(active=True, archived_at__isnull=True).annotate(
        group=F("pk") % GROUPS
    )
    sums = {
        group: (int(total), count)
        for group, total, count in active.values("group")
        .annotate(total=Sum("rules_token"), count=Count("pk"))
        .values_list("group", "total", "count")
    }
    moved = {g for g in sums.keys() | index.digest.keys() if sums.get(g) != index.digest.get(g)}
    if not moved:
        return dataclasses.replace(index, version=version)
    now = dict(active.filter(group__in=moved).values_list("pk", "rules_token"))
    before = {pk: index.tokens[pk] for pk in members(index.tokens, moved)}
    changed = {pk for pk, token in now.items() if before.get(pk) != token}
    drop = changed | (before.keys() - now.keys())
    fresh, loaded = (
        load_rules(
            Workflow.objects.filter(pk__in=changed, active=True, archived_at__isnull=True),
            index.field_kinds,
        )
        if changed
        else ([], {})
    )
    tokens = dict(index.tokens)
    for pk in drop:
        tokens.pop(pk, None)
    tokens.update(loaded)
    return index.rebuilt(version, fresh, drop, tokens)


def members(tokens, groups):
    """The ids in `tokens` whose group is one of `groups`: probed id by id when
    that is fewer steps than reading them all."""
    top = max(tokens, default=0)
    if len(groups) * (top // GROUPS + 1) > len(tokens):
        return [pk for pk in tokens if pk % GROUPS in groups]
    return [pk for g in groups for pk in range(g, top + 1, GROUPS) if pk in tokens]


def invalidate():
    """Drop this process's index (the next evaluation compiles it whole)."""
    _state["index"] = None


def bump(sender=None, instance=None, workflow_ids=None, **kwargs):
    """A rule changed: `renew` the tokens of the workflows it belongs to
    (`workflow_ids`, else found from the changed row), and this process brings
    its own index up to date on its next evaluation."""
    if workflow_ids is None:
        workflow_ids = changed_workflows(sender, instance, kwargs)
    renew(workflow_ids)
    _state["stale"] = True


def renew(workflow_ids):
    """What a change writes for every process to see: new tokens for the given
    workflows and the shared version; None (not one workflow's change: a
    status, a list) has every rule compiled again."""
    from automation.models import RulesVersion, Workflow
    from automation.models.workflows import new_rules_token

    rows = [CHANGED] if workflow_ids is not None else [CHANGED, EVERYTHING]
    if workflow_ids:
        Workflow.objects.filter(pk__in=workflow_ids).update(rules_token=new_rules_token())
    for pk in rows:
        token = uuid.uuid4()
        if not RulesVersion.objects.filter(pk=pk).update(token=token):
            RulesVersion.objects.get_or_create(pk=pk, defaults={"token": token})


def changed_workflows(sender, instance, kwargs):
    """The ids of the workflows a saved or deleted row belongs to; None: not one workflow's."""
    from automation.models import Action, ActionSet, EventCondition, Workflow

    if sender is Workflow or isinstance(instance, Workflow) and not kwargs.get("reverse"):
        return {instance.pk}
    if sender in (EventCondition, ActionSet):
        return {instance.workflow_id}
    if sender is Action:
        return set(
            ActionSet.objects.filter(pk=instance.action_set_id).values_list(
                "workflow_id", flat=True
            )
        )
    if kwargs.get("reverse") and kwargs.get("pk_set") is not None:
        return set(kwargs["pk_set"])  # the relation objects' side of a workflow relation
    return None
