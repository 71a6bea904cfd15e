"""Every error path of the workflow models' validation: errors name the bad value (SPEC §5, §6)."""

import pytest
from django.core.exceptions import ValidationError

from automation.document import rows
from automation.models import Action, ActionSet, EventCondition, Workflow
from leads.models import EmailTemplate

pytestmark = pytest.mark.django_db


@pytest.fixture
def workflow(statuses):
    return Workflow.objects.create(name="Validated")


def errors_of(obj):
    with pytest.raises(ValidationError) as exc:
        rows.full_clean(obj)
    return exc.value.message_dict


def config_errors(obj):
    errors = errors_of(obj)
    return errors["config"]


# --- Event conditions -------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "config", "message"),
    [
        ("DISPOSITION", {}, "config.values: is required"),
        ("DISPOSITION", {"values": []}, "config.values: pick at least one"),
        ("DISPOSITION", {"values": "SALE"}, "config.values: must be a list of status codes"),
        (
            "DISPOSITION",
            {"values": ["SALE", "NOPE"]},
            "config.values[1]: no status with code 'NOPE'",
        ),
        ("DISPOSITION", {"values": ["SALE"], "colour": "red"}, "config.colour: unknown key"),
        ("DISPOSITION", ["SALE"], "config: must be an object"),
        ("CALL_COUNT", {"operator": "bogus", "value": 1}, "config.operator: must be one of "),
        ("CALL_COUNT", {"value": 1}, "config.operator: is required"),
        ("CALL_COUNT", {"operator": "greater_than"}, "config.value: 'greater_than' needs a value"),
        (
            "CALL_COUNT",
            {"operator": "less_than", "value": "three"},
            "config.value: 'less_than' needs a number or a date, not 'three'",
        ),
        ("CALL_COUNT", {"operator": "within"}, "config.values: 'within' needs at least one value"),
        (
            "CALL_COUNT",
            {"operator": "between", "value": 1},
            "config.value2: 'between' needs a value2",
        ),
        ("CALL_TYPE", {"values": ["FAX"]}, "config.values[0]: must be one of OUTBOUND, INBOUND"),
        ("CALL_TYPE", {"values": "INBOUND"}, "config.values: must be a list"),
        ("CALLBACK", {"when": "now"}, "config.when: unknown key"),
        ("HOPPER_EXPIRED", {"campaign": 1}, "config.campaign: unknown key"),
        (
            "LEAD_ACTION",
            {"values": ["update"]},
            "config.values[0]: must be one of create, save, delete",
        ),
        ("LEAD_ACTION", {}, "config.values: is required"),
        ("LEAD_FIELDS", {"operator": "equals", "value": "CA"}, "config.field: is required"),
        (
            "LEAD_FIELDS",
            {"field": "first name", "operator": "equals", "value": "x"},
            "config.field: 'first name' is not a field name",
        ),
        (
            "LEAD_FIELDS",
            {"field": "call.colour", "operator": "equals", "value": "x"},
            "config.field: 'call.colour': calls have no field 'colour'",
        ),
        (
            "LEAD_FIELDS",
            {"field": "sate", "operator": "equals", "value": "CA"},
            "config.field: unknown field 'sate': not a lead field, a call field or a declared",
        ),
        (
            "LEAD_FIELDS",
            {"field": "custom.first_nme", "operator": "is_blank"},
            "config.field: unknown field 'custom.first_nme'",
        ),
        (
            "LEAD_FIELDS",
            {"field": "state", "operator": "equals", "value": ["CA"]},
            "config.value: must be a single value, not a list or object",
        ),
        (
            "LEAD_FIELDS",
            {"field": "state", "operator": "starts_with", "value": "  "},
            "config.value: 'starts_with' needs a value",
        ),
        (
            "LEAD_FIELDS",
            {"field": "postal_code", "operator": "between", "value": "90000"},
            "config.value2: 'between' needs a value2",
        ),
        (
            "LEAD_FIELDS",
            {"field": "state", "operator": "within", "values": ["CA", ""]},
            "config.values: 'within' needs a value in its list",
        ),
        (
            "LEAD_FIELDS",
            {"field": "state", "operator": "within", "value": " , "},
            "config.value: 'within' needs at least one value",
        ),
        ("LEAD_STATUS", {}, "config.to: give `to` and/or `from` status codes"),
        ("LEAD_STATUS", {"to": ["ZZZ"]}, "config.to[0]: no status with code 'ZZZ'"),
        ("LEAD_STATUS", {"from": ["SALE", "ZZZ"]}, "config.from[1]: no status with code 'ZZZ'"),
        ("REDISPOSITION", {"values": ["ZZZ"]}, "config.values[0]: no status with code 'ZZZ'"),
        ("SUBMITTED_BY", {"values": []}, "config.values: give at least one value"),
        ("SUBMITTED_BY", {"values": [{"user": 1}]}, "config.values: must be a list of values"),
        ("TERM_REASON", {"values": []}, "config.values: pick at least one"),
        ("TERM_REASON", {"values": ["HANGUP"]}, "config.values[0]: must be one of CALLER, AGENT"),
    ],
)
def test_it_rejects_a_bad_event_condition_naming_the_path(workflow, type_, config, message):
    condition = EventCondition(workflow=workflow, type=type_, config=config)
    messages = config_errors(condition)
    assert any(m.startswith(message) for m in messages), messages


def test_it_rejects_an_unknown_event_type(workflow):
    errors = errors_of(EventCondition(workflow=workflow, type="WEATHER", config={}))
    assert "type" in errors
    assert errors["config"] == ["config.type: unknown event type 'WEATHER'"]


def test_it_reports_every_bad_key_at_once(workflow):
    condition = EventCondition(
        workflow=workflow,
        type="LEAD_FIELDS",
        config={"field": "bad name", "operator": "nope", "colour": 1},
    )
    messages = config_errors(condition)
    assert sorted(m.split(":")[0] for m in messages) == [
        "config.colour",
        "config.field",
        "config.operator",
    ]


@pytest.mark.parametrize(
    ("type_", "config", "cleaned"),
    [
        ("DISPOSITION", {"values": ["SALE", "SALE", "NI"]}, {"values": ["SALE", "NI"]}),
        (
            "CALL_COUNT",
            {"operator": "within", "values": "1, 2"},
            {"operator": "within", "values": ["1", "2"]},
        ),
        ("LEAD_STATUS", {"to": ["SALE"]}, {"to": ["SALE"]}),
        ("CALLBACK", None, {}),
        ("SUBMITTED_BY", {"values": "api, jsmith"}, {"values": ["api", "jsmith"]}),
        (
            "LEAD_FIELDS",
            {"field": " custom.plan ", "operator": "is_blank"},
            {"field": "custom.plan", "operator": "is_blank"},
        ),
    ],
)
def test_it_cleans_a_good_event_condition(workflow, declare, type_, config, cleaned):
    declare("plan")
    condition = EventCondition(workflow=workflow, type=type_, config=config)
    rows.full_clean(condition)
    assert condition.config == cleaned


# --- Actions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "config", "message"),
    [
        ("STATUS", {}, "config.status: is required"),
        ("STATUS", {"status": "ZZZ"}, "config.status: no status with code 'ZZZ'"),
        ("MOVE", {"list": "Nowhere"}, "config.list: no list with name 'Nowhere'"),
        (
            "EMAIL",
            {"template": "Missing"},
            "config.template: no email template with name 'Missing'",
        ),
        (
            "INTEGRATION",
            {"endpoint": "Missing"},
            "config.endpoint: no endpoint with name 'Missing'",
        ),
        ("FIELD", {"field": "id", "op": "set", "value": 1}, "config.field: 'id' cannot be set"),
        ("FIELD", {"field": "state", "op": "set"}, "config.value: is required to set a value"),
        ("FIELD", {"field": "state", "op": "copy"}, "config.source_field: is required to copy"),
        (
            "FIELD",
            {"field": "called_count", "op": "divide", "value": 0},
            "config.value: cannot divide by zero",
        ),
        ("FIELD", {"field": "called_count", "op": "pow", "value": 2}, "config.op: must be one of"),
        ("CALLBACK", {"seconds": -1}, "config.seconds: must be at least 0"),
        ("CALLBACK", {"seconds": "soon"}, "config.seconds: must be a whole number"),
        ("CALLBACK_UPDATE", {"op": "move"}, "config.seconds: is required to move callbacks"),
        ("HOPPER", {"priority": 100}, "config.priority: must be at most 99"),
        ("DNC", {"scope": "planet"}, "config.scope: must be one of global, campaign"),
        ("REVENUE", {"amount": "lots"}, "config.amount: must be a number"),
        ("REVENUE", {"amount": 5, "currency": "EUR"}, "config.currency: unknown key"),
    ],
)
def test_it_rejects_a_bad_action_naming_the_path(workflow, type_, config, message):
    aset = ActionSet.objects.create(workflow=workflow)
    messages = config_errors(Action(action_set=aset, type=type_, config=config))
    assert any(m.startswith(message) for m in messages), messages


def test_it_rejects_an_unknown_action_type(workflow):
    aset = ActionSet.objects.create(workflow=workflow)
    errors = errors_of(Action(action_set=aset, type="FAX", config={}))
    assert "type" in errors
    assert errors["config"] == ["config.type: unknown action type 'FAX'"]


def test_it_accepts_a_good_action(workflow):
    template = EmailTemplate.objects.create(name="Welcome", subject="Hi {first_name}", body="Hello")
    aset = ActionSet.objects.create(workflow=workflow)
    action = Action(action_set=aset, type="EMAIL", config={"template": template.pk})
    rows.full_clean(action)
    assert action.config == {"template": template.pk}  # stored by id (SPEC C.2)


# --- Action sets ---------------------------------------------------------------------


def test_it_needs_a_field_for_a_lead_field_delay(workflow):
    errors = errors_of(ActionSet(workflow=workflow, delay_mode="lead_field"))
    assert errors == {"delay_field": ["Name the lead date field the delay is relative to."]}


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"delay_mode": "later"}, "delay_mode"),
        ({"delay_hours": -1}, "delay_hours"),
        ({"window": "9-10"}, "window"),
        ({"delay_direction": "sideways"}, "delay_direction"),
    ],
)
def test_it_rejects_bad_timing_fields(workflow, fields, bad):
    assert bad in errors_of(ActionSet(workflow=workflow, **fields))


def test_it_rejects_a_window_that_never_overlaps_the_schedule(workflow):
    workflow.schedule_enabled = True
    workflow.schedule_window = "5-9"
    workflow.save()
    errors = errors_of(ActionSet(workflow=workflow, window="9-5"))
    assert errors == {
        "window": [
            "The window 9-5 never overlaps the workflow's schedule 5-9: "
            "these actions could never run."
        ]
    }
    rows.full_clean(ActionSet(workflow=workflow, window="12-9"))  # 17:00–21:00 is shared


def test_it_ignores_the_schedule_window_while_the_schedule_is_off(workflow):
    workflow.schedule_window = "5-9"
    workflow.save()
    rows.full_clean(ActionSet(workflow=workflow, window="9-5"))


# --- Workflows -----------------------------------------------------------------------


@pytest.mark.parametrize("days", [[7], [-1], "mon", [True], [0, "1"], {"mon": 1}])
def test_it_rejects_bad_schedule_days(statuses, days):
    errors = errors_of(Workflow(name="Days", schedule_days=days))
    assert errors == {"schedule_days": ["Days are a list of 0 (Monday) … 6 (Sunday)."]}


@pytest.mark.parametrize(
    ("stop_filter", "message"),
    [
        ({"field": "state"}, "stop_filter: must be a list of conditions"),
        ([{"field": "state"}], "stop_filter[0].operator: is required"),
        (
            [{"field": "state", "operator": "equals", "value": "CA"}, {"operator": "is_blank"}],
            "stop_filter[1].field: is required",
        ),
        (
            [{"field": "state", "operator": "equals", "value": "CA", "colour": 1}],
            "stop_filter[0].colour: unknown key",
        ),
        (
            [{"field": "postal_code", "operator": "between", "value": "1"}],
            "stop_filter[0].value2: 'between' needs a value2",
        ),
    ],
)
def test_it_rejects_a_bad_stop_filter_naming_the_path(statuses, stop_filter, message):
    errors = errors_of(Workflow(name="Stop", stop_if="lead_filter", stop_filter=stop_filter))
    assert errors["stop_filter"] == [message]


def test_it_needs_a_stop_filter_to_stop_on_the_lead_filter(statuses):
    errors = errors_of(Workflow(name="Stop", stop_if="lead_filter"))
    assert errors == {
        "stop_filter": ["Stop if 'Advanced Lead Filter' needs at least one condition."]
    }


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"perform_action_on": 101}, "perform_action_on"),
        ({"relation": "planet"}, "relation"),
        ({"relation_mode": "near"}, "relation_mode"),
        ({"stop_if": "sometimes"}, "stop_if"),
        ({"schedule_window": "9-10"}, "schedule_window"),
    ],
)
def test_it_rejects_bad_workflow_settings(statuses, fields, bad):
    assert bad in errors_of(Workflow(name="Settings", **fields))


def test_it_accepts_and_cleans_a_good_workflow(statuses):
    wf = Workflow(
        name="Good",
        stop_if="lead_filter",
        stop_filter=[{"field": " state ", "operator": "equals", "value": "CA"}],
        schedule_enabled=True,
        schedule_window="9-5",
        schedule_days=[0, 1, 2, 3, 4],
        perform_action_on=30,
    )
    rows.full_clean(wf)
    assert wf.stop_filter == [{"field": "state", "operator": "equals", "value": "CA"}]
