"""The workflow document (SPEC Appendix A): validate, save (create/update/import), export.

One JSON shape travels through the API and export/import; related objects
are named by natural key. Validation reuses the per-type schemas
(automation.engine.events, automation.execution.actions) and the model rules, and every error
names the path of the bad value (`action_sets[0].actions[1].config.status`).
"""

from django.db import transaction

from automation.constants import (
    DelayMode,
    Direction,
    Reenrollment,
    Relation,
    RelationMode,
    StopIf,
    Window,
)
from automation.document import analysis
from automation.document.schema import (
    Bool,
    Choice,
    ConfigError,
    Int,
    Raw,
    Schema,
    Str,
    Text,
    join,
    shown,
)
from automation.engine import events, timing
from automation.execution import actions
from automation.models import Action, ActionSet, EventCondition, Workflow
from crm.validation import json_problems

# How many of each a document may hold (positions are small integers; a
# workflow of thousands of events is a mistake, not a workflow).
LIMITS = {
    "events": 100,
    "action_sets": 50,
    "actions": 100,
    "stop_filter": 100,
    "relation_objects": 1000,
}

# Natural key of each relation's objects.
RELATION_KEYS = {
    Relation.CAMPAIGN: ("leads.Campaign", "name"),
    Relation.LIST: ("leads.List", "name"),
    Relation.QUEUE: ("leads.Queue", "name"),
    Relation.INBOUND_NUMBER: ("leads.InboundNumber", "number"),
    Relation.EMAIL_TEMPLATE: ("leads.EmailTemplate", "name"),
}

SETTINGS = Schema(
    {
        "name": Str(max_length=200),
        "description": Text(max_length=5000, required=False, blank=True, default=""),
        "active": Bool(default=True),
        "relation": Choice(Relation, default=Relation.CAMPAIGN),
        "relation_mode": Choice(RelationMode, default=RelationMode.WITHIN),
        "relation_objects": Raw(required=False, default=[]),
        "all_campaigns": Bool(default=False),
        "stop_if": Choice(StopIf, default=StopIf.NEVER),
        "stop_filter": Raw(required=False, default=[]),
        "skip_if_pending": Bool(default=False),
        "schedule": Raw(required=False, default={}),
        "perform_action_on": Int(min=0, max=100, default=100),
        "reenrollment": Choice(Reenrollment, default=Reenrollment.ALWAYS),
        "reenroll_after_days": Int(min=1, max=3650, required=False, default=None),
        "flood_limit": Int(min=1, max=1_000_000, default=1000),
        "events": Raw(required=False, default=[]),
        "action_sets": Raw(required=False, default=[]),
    }
)

SCHEDULE = Schema(
    {
        "enabled": Bool(default=False),
        "window": Choice(Window, default=Window.H24),
        "days": Raw(required=False, default=[]),
    }
)

DELAY = Schema(
    {
        "mode": Choice(DelayMode, default=DelayMode.IMMEDIATE),
        "days": Int(min=0, max=3650, default=0),
        "hours": Int(min=0, max=100000, default=0),
        "minutes": Int(min=0, max=1000000, default=0),
        "field": Str(max_length=100, required=False, default=""),
        "direction": Choice(Direction, default=Direction.AFTER),
    }
)


def expect_list(value, path, limit=None):
    if not isinstance(value, list):
        raise ConfigError.at(path, f"must be a list, not {shown(value)}")
    if limit is not None and len(value) > limit:
        raise ConfigError.at(path, f"holds {len(value)} items: at most {limit} are allowed")
    return value


def validate(doc, instance=None):
    """Clean a whole document, or raise ConfigError with every bad path.

    1. The document as JSON: an object, nested within crm.validation's depth
       limit, no NUL or lone surrogate in any key or string (checked before
       any value is looked up in the database).
    2. The settings, every one (all bad ones reported together).
    3. What depends on them — name, relation objects, stop filter, schedule,
       events, action sets — as far as the valid settings allow.
    """
    if not isinstance(doc, dict):
        raise ConfigError.at("", "the workflow document must be a JSON object")
    problems = json_problems(doc)
    if problems:
        raise ConfigError(problems)
    errors = {}

    def collect(fn, *args):
        try:
            return fn(*args)
        except ConfigError as exc:
            errors.update(exc.errors)
            return None

    cleaned, errors = SETTINGS.clean_fields({k: v for k, v in doc.items() if k != "id"}, "")
    if "name" in cleaned:
        name_taken = Workflow.objects.filter(name=cleaned["name"])
        if instance is not None:
            name_taken = name_taken.exclude(pk=instance.pk)
        if name_taken.exists():
            errors["name"] = f"a workflow named {cleaned['name']!r} exists already"
    if "relation" in cleaned:
        cleaned["relation_objects"] = collect(validate_objects, cleaned) or []
    cleaned["stop_filter"] = collect(validate_stop_filter, cleaned["stop_filter"])
    if (
        cleaned.get("stop_if") == StopIf.LEAD_FILTER
        and not cleaned["stop_filter"]
        and "stop_filter" not in errors
    ):
        errors["stop_filter"] = "stop_if lead_filter needs at least one condition"
    reenrollment, after_days = cleaned.get("reenrollment"), cleaned.get("reenroll_after_days")
    if reenrollment == Reenrollment.ONCE_PER_DAYS:
        if after_days is None and "reenroll_after_days" not in errors:
            errors["reenroll_after_days"] = "is required with reenrollment once_per_days"
    elif reenrollment is not None and after_days is not None:
        errors["reenroll_after_days"] = "only with reenrollment once_per_days"
    cleaned["schedule"] = collect(validate_schedule, cleaned["schedule"])
    cleaned["events"] = collect(validate_events, cleaned["events"])
    if cleaned["events"] and "relation" in cleaned and "all_campaigns" in cleaned:
        errors.update(
            analysis.impossible_conditions(
                [
                    (join("events", i), e["type"], e["config"])
                    for i, e in enumerate(cleaned["events"])
                    if e["active"]
                ],
                cleaned["relation"],
                cleaned["all_campaigns"],
            )
        )
    cleaned["action_sets"] = collect(
        validate_action_sets,
        cleaned["action_sets"],
        cleaned["schedule"] or {"enabled": False, "window": Window.H24},
    )
    if errors:
        raise ConfigError(errors)
    return cleaned


def validate_stop_filter(items):
    expect_list(items, "stop_filter", LIMITS["stop_filter"])
    return events.validate_filter(items, "stop_filter")


def validate_objects(cleaned):
    from django.apps import apps

    values = expect_list(
        cleaned["relation_objects"], "relation_objects", LIMITS["relation_objects"]
    )
    model_path, key = RELATION_KEYS[cleaned["relation"]]
    model = apps.get_model(model_path)
    found = {}
    for obj in model.objects.filter(**{f"{key}__in": [v for v in values if isinstance(v, str)]}):
        found[getattr(obj, key)] = obj
    errors = {}
    for i, value in enumerate(values):  # every bad one at once
        if not isinstance(value, str):
            errors[join("relation_objects", i)] = f"must be a {key} (a string), not {shown(value)}"
        elif value not in found:
            errors[join("relation_objects", i)] = (
                f"no {model._meta.verbose_name} with {key} {shown(value)}"
            )
    if errors:
        raise ConfigError(errors)
    return [found[v] for v in dict.fromkeys(values)]


def validate_schedule(schedule):
    cleaned = SCHEDULE.validate(schedule, "schedule")
    days = cleaned["days"]
    if not isinstance(days, list) or any(
        isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= 6 for d in days
    ):
        raise ConfigError.at("schedule.days", "must be a list of 0 (Monday) … 6 (Sunday)")
    cleaned["days"] = sorted(set(days))
    return cleaned


def validate_events(items):
    expect_list(items, "events", LIMITS["events"])
    cleaned, errors = [], {}
    for i, item in enumerate(items):
        path = join("events", i)
        if not isinstance(item, dict):
            errors[path] = f"must be an object with a type, not {shown(item)}"
            continue
        config = {k: v for k, v in item.items() if k not in ("type", "active")}
        active = item.get("active", True)
        if not isinstance(active, bool):
            errors[join(path, "active")] = "must be true or false"
        try:
            config = events.validate(item.get("type"), config, path)
            cleaned.append({"type": item["type"], "active": active, "config": config})
        except ConfigError as exc:
            errors.update(exc.errors)
            if hint := wrong_type_hint(item.get("type"), config, path, exc.errors):
                errors[join(path, "type")] = hint
    if errors:
        raise ConfigError(errors)
    return cleaned


def wrong_type_hint(event_type, config, path, errors):
    """When an event's values fail its type but fit another, the fault is the type: say so.

    (A DISPOSITION event whose values are call types: "no status with code
    'OUTBOUND'" is true, but the mistake is the type.)
    """
    if not isinstance(event_type, str) or event_type not in events.EVENTS:
        return ""
    if any(not p.startswith(f"{path}.values") for p in errors):
        return ""  # something other than the values is wrong
    fits = []
    for other, spec in events.EVENTS.items():
        if other == event_type or "values" not in spec.schema.fields or not config.get("values"):
            continue
        try:
            spec.schema.validate(config, path)
        except ConfigError:
            continue
        fits.append(other)
    if not fits:
        return ""
    values = ", ".join(shown(v) for v in config["values"][:10])
    return (
        f"the values ({values}) are not {event_type} values; they are "
        f"{' or '.join(fits)} values: is the type wrong?"
    )


def validate_action_sets(items, schedule):
    expect_list(items, "action_sets", LIMITS["action_sets"])
    cleaned, errors = [], {}

    def collect(fn, *args):
        try:
            return fn(*args)
        except ConfigError as exc:
            errors.update(exc.errors)
            return None

    for i, item in enumerate(items):
        path = join("action_sets", i)
        if not isinstance(item, dict):
            errors[path] = f"must be an object, not {shown(item)}"
            continue
        unknown = set(item) - {"delay", "window", "actions"}
        for key in sorted(unknown):
            errors[join(path, key)] = "unknown key"
        # Delay, window and actions each reported, whatever the others hold.
        delay = collect(validate_delay, item.get("delay") or {}, join(path, "delay"))
        window = collect(validate_window, item.get("window", Window.H24), schedule, path)
        actions_ = collect(validate_actions, item.get("actions"), path)
        if None not in (delay, window, actions_):
            cleaned.append({"delay": delay, "window": window, "actions": actions_})
    if errors:
        raise ConfigError(errors)
    return cleaned


def validate_delay(delay, path):
    delay = DELAY.validate(delay, path)
    if delay["mode"] == DelayMode.LEAD_FIELD and not delay["field"]:
        raise ConfigError.at(join(path, "field"), "name the lead date field")
    return delay


def validate_window(window, schedule, path):
    window = Choice(Window, default=Window.H24).clean(window, join(path, "window"))
    if schedule["enabled"] and not timing.windows_overlap(window, schedule["window"]):
        raise ConfigError.at(
            join(path, "window"),
            f"never overlaps the workflow schedule {schedule['window']}: these actions could never run",
        )
    return window


ACTION_KEYS = {"type", "active", "skip_if_live_call", "config"}


def validate_actions(items, set_path):
    path = join(set_path, "actions")
    expect_list(items if items is not None else [], path, LIMITS["actions"])
    cleaned, errors = [], {}
    for i, item in enumerate(items or []):
        item_path = join(path, i)
        if not isinstance(item, dict):
            errors[item_path] = f"must be an object with a type and a config, not {shown(item)}"
            continue
        for key in sorted(set(item) - ACTION_KEYS):
            errors[join(item_path, key)] = "unknown key"
        flags = {}
        for flag, default in (("active", True), ("skip_if_live_call", False)):
            value = item.get(flag, default)
            if not isinstance(value, bool):
                errors[join(item_path, flag)] = "must be true or false"
            flags[flag] = value
        try:
            config = actions.validate(
                item.get("type"), item.get("config") or {}, join(item_path, "config")
            )
            cleaned.append({"type": item["type"], "config": config, **flags})
        except ConfigError as exc:
            errors.update(exc.errors)
    if errors:
        raise ConfigError(errors)
    return cleaned


@transaction.atomic
def save(doc, instance=None):
    """Create or replace a workflow from a document. Returns the Workflow."""
    cleaned = validate(doc, instance)
    workflow = instance or Workflow()
    for name in (
        "name", "description", "active", "relation", "relation_mode", "all_campaigns",
        "stop_if", "stop_filter", "skip_if_pending", "perform_action_on", "reenrollment",
        "reenroll_after_days", "flood_limit",
    ):  # fmt: skip
        setattr(workflow, name, cleaned[name])
    schedule = cleaned["schedule"]
    workflow.schedule_enabled = schedule["enabled"]
    workflow.schedule_window = schedule["window"]
    workflow.schedule_days = schedule["days"]
    if workflow.active:
        workflow.disabled_reason = ""
    workflow.save()
    for relation, attr in Workflow.RELATION_FIELDS.items():
        objects = cleaned["relation_objects"] if relation == workflow.relation else []
        getattr(workflow, attr).set(objects)
    workflow.events.all().delete()
    EventCondition.objects.bulk_create(
        EventCondition(
            workflow=workflow, type=e["type"], config=e["config"], active=e["active"], position=i
        )
        for i, e in enumerate(cleaned["events"])
    )
    workflow.action_sets.all().delete()
    for i, aset in enumerate(cleaned["action_sets"]):
        delay = aset["delay"]
        action_set = ActionSet.objects.create(
            workflow=workflow,
            position=i,
            delay_mode=delay["mode"],
            delay_days=delay["days"],
            delay_hours=delay["hours"],
            delay_minutes=delay["minutes"],
            delay_field=delay["field"],
            delay_direction=delay["direction"],
            window=aset["window"],
        )
        Action.objects.bulk_create(
            Action(
                action_set=action_set,
                type=a["type"],
                config=a["config"],
                active=a["active"],
                skip_if_live_call=a["skip_if_live_call"],
                position=j,
            )
            for j, a in enumerate(aset["actions"])
        )
    # bulk_create sends no signals: make sure every process reloads its rules.
    from automation.engine import rules

    rules.bump(workflow_ids=[workflow.pk])
    return workflow


# What export() reads: prefetch these to export many workflows in a fixed number of queries.
EXPORT_PREFETCH = ("events", "action_sets__actions", *Workflow.RELATION_FIELDS.values())


def exportable(workflows):
    return workflows.prefetch_related(*EXPORT_PREFETCH)


def export(workflow):
    """The document of a workflow (natural keys everywhere)."""
    _, key = RELATION_KEYS[workflow.relation]
    doc = {
        "name": workflow.name,
        "description": workflow.description,
        "active": workflow.active,
        "relation": workflow.relation,
        "relation_mode": workflow.relation_mode,
        "relation_objects": sorted(getattr(o, key) for o in workflow.relation_objects()),
        "all_campaigns": workflow.all_campaigns,
        "stop_if": workflow.stop_if,
        "stop_filter": workflow.stop_filter,
        "skip_if_pending": workflow.skip_if_pending,
        "schedule": {
            "enabled": workflow.schedule_enabled,
            "window": workflow.schedule_window,
            "days": workflow.schedule_days,
        },
        "perform_action_on": workflow.perform_action_on,
        "reenrollment": workflow.reenrollment,
        "reenroll_after_days": workflow.reenroll_after_days,
        "flood_limit": workflow.flood_limit,
        "events": [
            {"type": e.type, **({} if e.active else {"active": False}), **e.config}
            for e in workflow.events.all()
        ],
        "action_sets": [
            {
                "delay": {
                    "mode": s.delay_mode,
                    "days": s.delay_days,
                    "hours": s.delay_hours,
                    "minutes": s.delay_minutes,
                    **(
                        {"field": s.delay_field, "direction": s.delay_direction}
                        if s.delay_field
                        else {}
                    ),
                },
                "window": s.window,
                "actions": [
                    {
                        "type": a.type,
                        "active": a.active,
                        "skip_if_live_call": a.skip_if_live_call,
                        "config": a.config,
                    }
                    for a in s.actions.all()
                ],
            }
            for s in workflow.action_sets.all()
        ],
    }
    return doc


MAX_IMPORT = 1000


def import_documents(docs):
    """Create or update (by name) each workflow. All or nothing. Returns the workflows."""
    if isinstance(docs, dict):
        docs = docs.get("workflows", [docs])
    if not isinstance(docs, list):
        raise ConfigError.at("workflows", "must be a list of workflow documents")
    if len(docs) > MAX_IMPORT:
        raise ConfigError.at("workflows", f"at most {MAX_IMPORT} workflows per import")
    problems = json_problems(docs, "workflows")
    if problems:
        raise ConfigError(problems)
    saved, errors = [], {}
    with transaction.atomic():
        for i, doc in enumerate(docs):
            name = doc.get("name") if isinstance(doc, dict) else None
            instance = Workflow.objects.filter(name=name).first() if isinstance(name, str) else None
            try:
                with transaction.atomic():
                    saved.append(save(doc, instance))
            except ConfigError as exc:
                errors.update(
                    {
                        f"workflows[{i}].{p}" if p else f"workflows[{i}]": m
                        for p, m in exc.errors.items()
                    }
                )
        if errors:
            raise ConfigError(errors)  # rolls back every document of this import
    return saved
