"""POST data for the admin's forms, as a browser sends it."""


def management(prefix, total, initial=0):
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def workflow_data(name="Sale follow-up", events=(), action_sets=(), **fields):
    """The workflow form: `events` are (type, {field: value}) pairs, `action_sets` dicts of timing."""
    data = {
        "name": name,
        "description": "",
        "active": "on",
        "relation": "campaign",
        "relation_mode": "within",
        "stop_if": "never",
        "perform_action_on": "100",
        "schedule_window": "24hr",
        **management("events", len(events)),
        **management("action_sets", len(action_sets)),
    }
    for i, (event_type, values) in enumerate(events):
        data[f"events-{i}-type"] = event_type
        data[f"events-{i}-active"] = "on"
        data[f"events-{i}-position"] = str(i)
        for name_, value in values.items():
            data[f"events-{i}-{event_type}__{name_}"] = value
    for i, timing in enumerate(action_sets):
        row = {"position": str(i), "delay_mode": "immediate", "delay_days": "0", "delay_hours": "0",
               "delay_minutes": "0", "delay_field": "", "delay_direction": "after", "window": "24hr",
               **timing}  # fmt: skip
        data.update({f"action_sets-{i}-{k}": v for k, v in row.items()})
    for key, value in fields.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def action_set_data(workflow, actions=(), **timing):
    """The action set page: `actions` are (type, {field: value}) pairs."""
    data = {
        "workflow": str(workflow.pk),
        "position": "0",
        "delay_mode": "immediate",
        "delay_days": "0",
        "delay_hours": "0",
        "delay_minutes": "0",
        "delay_field": "",
        "delay_direction": "after",
        "window": "24hr",
        "_return_to_workflow": "Save and return to workflow",
        **management("actions", len(actions)),
        **timing,
    }
    for i, (action_type, values) in enumerate(actions):
        data[f"actions-{i}-type"] = action_type
        data[f"actions-{i}-active"] = "on"
        data[f"actions-{i}-position"] = str(i)
        for name, value in values.items():
            data[f"actions-{i}-{action_type}__{name}"] = value
    return data
