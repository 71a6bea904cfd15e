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
    VersionSource,
    Window,
)
from automation.document import analysis, store, versions
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
    stored_keys,
)
from automation.engine import events, timing
from automation.execution import actions
from automation.models import Workflow
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
        "field": Str(max_length=100, required=False, default="", check=events.check_field_name),
        "direction": Choice(Direction, default=Direction.AFTER),
    }
)


# Keys a GET shows that a document does not set (SPEC C.2): accepted when they
# equal the stored value (a GET → PUT round trip) and ignored; any other value
# is a 400. A new workflow has none yet: there they are ignored.
READ_ONLY = {
    "id": lambda workflow: workflow.pk,
    "disabled_reason": lambda workflow: workflow.disabled_reason,
    "version": lambda workflow: workflow.version,
    "archived": lambda workflow: workflow.archived,
}

# What an `id` of each kind of document item names.
ITEM_NOUNS = {"events": "event", "action_sets": "action set", "actions": "action"}


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
       any value is looked up in the database, so these alone are reported).
    2. The settings, every one (all bad ones reported together), and the
       read-only keys (READ_ONLY).
    3. What depends on them — name, relation objects, stop filter, schedule,
       events, action sets, the ids of their items (store.owned) — each as far
       as the valid settings allow.
    4. The analysis (automation.document.analysis) of the events that passed:
       conditions that could never match together.
    Every stage runs on what the earlier ones let through: one document's
    errors all come back at once.
    """
    if not isinstance(doc, dict):
        raise ConfigError.at("", "the workflow document must be a JSON object")
    problems = json_problems(doc)
    if problems:
        raise ConfigError(problems)

    def collect(fn, *args):
        try:
            return fn(*args)
        except ConfigError as exc:
            errors.update(exc.errors)
            return None

    cleaned, errors = SETTINGS.clean_fields(
        {k: v for k, v in doc.items() if k not in READ_ONLY}, ""
    )
    for key, current in READ_ONLY.items():
        if instance is not None and key in doc and not store.same(doc[key], current(instance)):
            errors[key] = (
                f"is read-only (it is {shown(current(instance))}): leave it out or unchanged"
            )
    owned = store.owned(instance)
    if "name" in cleaned:
        name_taken = Workflow.objects.filter(name=cleaned["name"])
        if instance is not None:
            name_taken = name_taken.exclude(pk=instance.pk)
        if name_taken.exists():
            errors["name"] = f"a workflow named {cleaned['name']!r} exists already"
    if "relation" in cleaned:
        cleaned["relation_objects"] = collect(validate_objects, cleaned) or []
    else:  # which objects is unknown, but not what a key looks like
        collect(object_keys, cleaned["relation_objects"], "a natural key")
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
    schedule, schedule_errors = validate_schedule(cleaned["schedule"])
    errors.update(schedule_errors)
    cleaned["schedule"] = schedule
    events_, event_errors = validate_events(cleaned["events"], owned)
    errors.update(event_errors)
    cleaned["events"] = list(events_.values())
    # Conditions that cannot match together cannot once more are added: the
    # events that passed are analysed even when others did not.
    scope = cleaned.get("relation") if "all_campaigns" in cleaned else None
    errors.update(
        analysis.impossible_conditions(
            [
                (join("events", i), e["type"], e["config"])
                for i, e in events_.items()
                if e["active"]
            ],
            scope,
            cleaned.get("all_campaigns", False),
        )
    )
    # A schedule whose days are wrong still has a window the action sets must meet.
    timing_schedule = {
        "enabled": schedule.get("enabled", False) and "window" in schedule,
        "window": schedule.get("window", Window.H24),
    }
    cleaned["action_sets"] = collect(
        validate_action_sets, cleaned["action_sets"], timing_schedule, owned
    )
    if errors:
        raise ConfigError(errors)
    return cleaned


def item_id(item, kind, owned, seen, path, errors):
    """The `id` of a document item: None for a new row, else the id of one of this
    workflow's rows of that kind (each named once). A bad one is added to `errors`."""
    value = item.get("id")
    if value is None:
        return None
    noun = ITEM_NOUNS[kind]
    if isinstance(value, bool) or not isinstance(value, int):
        message = f"must be the id of one of this workflow's {noun}s (leave it out for a new one), not {shown(value)}"
    elif value not in owned[kind]:
        message = (
            f"no {noun} with id {value} in this workflow (leave the id out to add a new {noun})"
        )
    elif value in seen:
        message = f"{noun} {value} is listed twice (also at {seen[value]})"
    else:
        seen[value] = path
        return value
    errors[join(path, "id")] = message
    return None


def validate_stop_filter(items):
    expect_list(items, "stop_filter", LIMITS["stop_filter"])
    return events.validate_filter(items, "stop_filter")


def object_keys(values, key):
    """The relation objects' keys: a list of strings (every bad one at once)."""
    expect_list(values, "relation_objects", LIMITS["relation_objects"])
    errors = {
        join("relation_objects", i): f"must be {key} (a string), not {shown(value)}"
        for i, value in enumerate(values)
        if not isinstance(value, str)
    }
    if errors:
        raise ConfigError(errors)
    return values


def validate_objects(cleaned):
    from django.apps import apps

    model_path, key = RELATION_KEYS[cleaned["relation"]]
    values = expect_list(
        cleaned["relation_objects"], "relation_objects", LIMITS["relation_objects"]
    )
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
    """(cleaned, errors): the valid part of the schedule is cleaned even when the rest is not."""
    cleaned, errors = SCHEDULE.clean_fields(schedule, "schedule")
    if "days" in cleaned:
        days = cleaned["days"]
        if not isinstance(days, list) or any(
            isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= 6 for d in days
        ):
            errors["schedule.days"] = "must be a list of 0 (Monday) … 6 (Sunday)"
        else:
            cleaned["days"] = sorted(set(days))
    return cleaned, errors


def validate_events(items, owned=None):
    """({index: cleaned event} of the valid ones, {path: message} of the others)."""
    owned = owned or store.owned(None)
    try:
        expect_list(items, "events", LIMITS["events"])
    except ConfigError as exc:
        return {}, exc.errors
    cleaned, errors, seen = {}, {}, {}
    for i, item in enumerate(items):
        path = join("events", i)
        if not isinstance(item, dict):
            errors[path] = f"must be an object with a type, not {shown(item)}"
            continue
        item_errors = {}
        pk = item_id(item, "events", owned, seen, path, item_errors)
        config = {k: v for k, v in item.items() if k not in ("type", "active", "id")}
        active = item.get("active", True)
        if not isinstance(active, bool):
            item_errors[join(path, "active")] = "must be true or false"
        try:
            config = events.validate(item.get("type"), config, path)
        except ConfigError as exc:
            item_errors.update(exc.errors)
            if hint := wrong_type_hint(item.get("type"), config, path, exc.errors):
                item_errors[join(path, "type")] = hint
        if item_errors:
            errors.update(item_errors)
        else:
            cleaned[i] = {"id": pk, "type": item["type"], "active": active, "config": config}
    return cleaned, errors


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


def validate_action_sets(items, schedule, owned=None):
    owned = owned or store.owned(None)
    expect_list(items, "action_sets", LIMITS["action_sets"])
    cleaned, errors, seen = [], {}, {"action_sets": {}, "actions": {}}

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
        unknown = set(item) - {"id", "delay", "window", "actions"}
        for key in sorted(unknown):
            errors[join(path, key)] = "unknown key"
        before = len(errors)
        pk = item_id(item, "action_sets", owned, seen["action_sets"], path, errors)
        # Delay, window and actions each reported, whatever the others hold.
        delay = collect(validate_delay, item.get("delay") or {}, join(path, "delay"))
        window = collect(validate_window, item.get("window", Window.H24), schedule, path)
        actions_ = collect(validate_actions, item.get("actions"), path, owned, seen["actions"])
        if len(errors) == before and None not in (delay, window, actions_):
            cleaned.append({"id": pk, "delay": delay, "window": window, "actions": actions_})
    if errors:
        raise ConfigError(errors)
    return cleaned


def validate_delay(delay, path):
    delay, errors = DELAY.clean_fields(delay, path)
    if delay.get("mode") == DelayMode.LEAD_FIELD and not delay.get("field"):
        errors.setdefault(join(path, "field"), "name the lead date field")
    if errors:
        raise ConfigError(errors)
    return delay


def validate_window(window, schedule, path):
    window = Choice(Window, default=Window.H24).clean(window, join(path, "window"))
    if schedule["enabled"] and not timing.windows_overlap(window, schedule["window"]):
        raise ConfigError.at(
            join(path, "window"),
            f"never overlaps the workflow schedule {schedule['window']}: these actions could never run",
        )
    return window


ACTION_KEYS = {"id", "type", "active", "skip_if_live_call", "config"}


def validate_actions(items, set_path, owned=None, seen=None):
    owned, seen = owned or store.owned(None), {} if seen is None else seen
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
        pk = item_id(item, "actions", owned, seen, item_path, errors)
        if pk is not None and item.get("type") != owned["actions"][pk]:
            # Its entries were scheduled as that type: they cannot run as another.
            errors[join(item_path, "type")] = (
                f"an action's type cannot change (action {pk} is {owned['actions'][pk]}): "
                "leave its id out to replace it with a new action"
            )
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
            cleaned.append({"id": pk, "type": item["type"], "config": config, **flags})
        except ConfigError as exc:
            errors.update(exc.errors)
    if errors:
        raise ConfigError(errors)
    return cleaned


@transaction.atomic
def save(doc, instance=None, *, source=VersionSource.API, user=None, summary=""):
    """Create a workflow from a document, or update `instance` in place (automation.document.store).
    A save that changed anything stores a version (automation.document.versions), from
    `source` by `user`, its summary prefixed with `summary`. Returns the Workflow."""
    if instance is not None:
        # Edits of one workflow one at a time: each validates its ids against
        # what the previous one left. FOR NO KEY UPDATE: lead saves firing the
        # workflow meanwhile (their FOR KEY SHARE, records.present) do not wait.
        list(
            Workflow.objects.select_for_update(no_key=True).filter(pk=instance.pk).values_list("pk")
        )
        instance.refresh_from_db()
        if instance.archived:
            raise ConfigError.at("archived", "the workflow is archived: unarchive it first")
    cleaned = validate(doc, instance)
    workflow = instance or Workflow()
    if store.write(workflow, cleaned):
        document = export(workflow, ids=True)
        versions.record(workflow, document, source, user, summary, cancel_removed=False)
    return workflow


# What export() reads: prefetch these to export many workflows in a fixed number of queries.
EXPORT_PREFETCH = ("events", "action_sets__actions", *Workflow.RELATION_FIELDS.values())


def exportable(workflows):
    return workflows.prefetch_related(*EXPORT_PREFETCH)


def export(workflow, ids=False):
    """The document of a workflow (natural keys everywhere). `ids`: each event,
    action set and action with its `id`, as the API shows it (SPEC C.2); without
    them (export/import), the document is the same in any installation."""

    def with_id(row, item):
        return {"id": row.pk, **item} if ids else item

    _, key = RELATION_KEYS[workflow.relation]
    conditions = list(workflow.events.all())
    sets = [(s, list(s.actions.all())) for s in workflow.action_sets.all()]
    schemas = [(schema_of(events.EVENTS, e.type), e.config) for e in conditions]
    schemas += [(schema_of(actions.EXECUTORS, a.type), a.config) for _, rows in sets for a in rows]
    keys = stored_keys(schemas)  # one query per kind of object referred to

    def config_of(registry, row):
        return schema_of(registry, row.type).show(row.config, keys)

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
            with_id(
                e,
                {
                    "type": e.type,
                    **({} if e.active else {"active": False}),
                    **config_of(events.EVENTS, e),
                },
            )
            for e in conditions
        ],
        "action_sets": [
            with_id(
                s,
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
                        with_id(
                            a,
                            {
                                "type": a.type,
                                "active": a.active,
                                "skip_if_live_call": a.skip_if_live_call,
                                "config": config_of(actions.EXECUTORS, a),
                            },
                        )
                        for a in rows
                    ],
                },
            )
            for s, rows in sets
        ],
    }
    return doc


def schema_of(registry, type_code):
    spec = registry.get(type_code)
    return spec.schema if spec is not None else Schema()


MAX_IMPORT = 1000


def import_documents(docs, user=None):
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
                    saved.append(save(doc, instance, source=VersionSource.IMPORT, user=user))
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
