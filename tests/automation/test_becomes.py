""" "when": "becomes" on Lead Fields, Call Count and Submitted By (SPEC C.4).

"becomes" matches only when this occurrence changed the lead from not matching
to matching; a creation counts as a change. The property tests draw random
before/after states and operators and check exactly that, first on the
compiled condition (engine.previous_state's `before` against the lead), then
through real saves and the engine (the rule index included).
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from automation.constants import TriggerOutcome
from automation.engine import conditions, rules
from automation.engine import handler as engine
from automation.engine.compiled import Condition
from automation.engine.occurrences import Occurrence
from automation.models import Trigger
from leads.models import Lead
from tests.automation.engine_helpers import fresh_rules, make_workflow, outcomes  # noqa: F401

OPERATORS = ["equals", "not_equals", "greater_than", "less_than_or_equal", "within", "is_blank"]
numbers = st.integers(0, 6)
texts = st.sampled_from(["", "CA", "ca", "NV", "TX", "4", "10"])


def config_for(operator, value):
    if operator == "within":
        return {"operator": operator, "values": [str(value), "NV"]}
    if operator == "is_blank":
        return {"operator": operator}
    if operator in ("greater_than", "less_than_or_equal"):
        return {"operator": operator, "value": 3}
    return {"operator": operator, "value": value}


def holds(config, actual):
    """The plain operator, independent of the condition code under test."""
    return conditions.compare(
        config["operator"], actual, config.get("value"), config.get("value2"), config.get("values")
    )


CASES = {
    "CALL_COUNT": ("called_count", numbers, {}),
    "LEAD_FIELDS": ("state", texts, {"field": "state"}),
    "LEAD_FIELDS_CUSTOM": ("custom_fields", numbers, {"field": "custom.score"}),
    "SUBMITTED_BY": ("submitted_by", st.sampled_from(["api", "agent", "web_form", ""]), {}),
}


def lead_with(kind, value):
    attname = CASES[kind][0]
    lead = Lead(list_id=1, phone_number="+13105550100", timezone="America/Los_Angeles")
    setattr(lead, attname, {"score": value} if attname == "custom_fields" else value)
    return lead


def condition(kind, operator, value):
    if kind == "SUBMITTED_BY":
        return Condition("SUBMITTED_BY", {"when": "becomes", "values": ["api", "agent"]})
    config = {**CASES[kind][2], **config_for(operator, value), "when": "becomes"}
    return Condition(kind.removesuffix("_CUSTOM"), config)


def actual(kind, lead):
    attname = CASES[kind][0]
    value = getattr(lead, attname)
    return value.get("score") if attname == "custom_fields" else value


@st.composite
def scenarios(draw):
    kind = draw(st.sampled_from(sorted(CASES)))
    values = CASES[kind][1]
    return kind, draw(st.sampled_from(OPERATORS)), draw(values), draw(values), draw(values)


@given(scenarios())
def test_becomes_matches_iff_the_condition_holds_after_and_not_before(scenario):
    kind, operator, constant, before_value, after_value = scenario
    cond = condition(kind, operator, constant)
    is_config = {k: v for k, v in cond.config.items() if k != "when"}
    before, after = lead_with(kind, before_value), lead_with(kind, after_value)
    occ = Occurrence(lead_id=1, occurred_at=None, lead_action="save")
    if kind == "SUBMITTED_BY":
        expected_now = actual(kind, after) in ("api", "agent")
        expected_then = actual(kind, before) in ("api", "agent")
    else:
        expected_now = holds(is_config, actual(kind, after))
        expected_then = holds(is_config, actual(kind, before))
    assert cond.matches(occ, after, before) == (expected_now and not expected_then)
    # Unchanged (no `before`, or the lead itself): never "becomes".
    assert not cond.matches(occ, after, None)
    assert not cond.matches(occ, after, after)
    # A creation counts as a change: it matches whenever it holds.
    created = Occurrence(lead_id=1, occurred_at=None, lead_action="create")
    assert cond.matches(created, after, after) == expected_now
    # Other occurrences change nothing of the lead.
    for other in (Occurrence(lead_id=1, occurred_at=None, callback_id=5),):
        assert not cond.matches(other, after, before)


@pytest.mark.django_db
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    operator=st.sampled_from(["equals", "within", "not_equals", "starts_with"]),
    before_state=st.sampled_from(["CA", "NV", "", "CAL"]),
    after_state=st.sampled_from(["CA", "NV", "", "CAL"]),
)
def test_a_real_save_fires_becomes_iff_the_state_became_so(
    make_lead, operator, before_state, after_state
):
    """Through Lead.save → signals → engine.previous_state → the rule index (which files
    equals/within/starts_with rules by the lead's current value) → the conditions."""
    config = {"field": "state", "operator": operator, "when": "becomes"}
    config.update({"values": ["CA"]} if operator == "within" else {"value": "CA"})
    wf = make_workflow([("LEAD_FIELDS", config)], delay={"delay_mode": "fixed", "delay_hours": 1})
    rules.invalidate()
    try:
        lead = make_lead(state=before_state)
        Trigger.objects.filter(workflow=wf).delete()  # the creation is tested on its own
        lead = Lead.objects.get(pk=lead.pk)
        lead.state = after_state
        lead.save()
        is_config = {k: v for k, v in config.items() if k not in ("when", "field")}
        expected = holds(is_config, after_state) and not holds(is_config, before_state)
        fired = Trigger.objects.filter(workflow=wf, lead_id=lead.pk).exists()
        assert fired == expected, (operator, before_state, after_state)
    finally:
        wf.delete()


@pytest.mark.django_db
def test_a_state_condition_with_is_fires_on_every_save_and_becomes_only_on_the_change(make_lead):
    later = {"delay_mode": "fixed", "delay_hours": 1}
    on_ca = {"field": "state", "operator": "equals", "value": "CA"}
    is_ca = make_workflow([("LEAD_FIELDS", on_ca)], delay=later)
    becomes_ca = make_workflow([("LEAD_FIELDS", {**on_ca, "when": "becomes"})], delay=later)
    lead = make_lead(state="NV")
    for first_name in ("A", "B"):  # unrelated edits
        lead.first_name = first_name
        lead.save()
    lead.state = "CA"
    lead.save()  # the change
    for first_name in ("C", "D", "E"):  # unrelated edits again
        lead.first_name = first_name
        lead.save()
    assert outcomes(is_ca) == [TriggerOutcome.FIRED] * 4
    assert outcomes(becomes_ca) == [TriggerOutcome.FIRED]


@pytest.mark.django_db
def test_a_creation_counts_as_a_change(make_lead):
    wf = make_workflow(
        [("CALL_COUNT", {"operator": "equals", "value": 0, "when": "becomes"})],
        delay={"delay_mode": "fixed", "delay_hours": 1},
    )
    lead = make_lead()
    lead.first_name = "Other"
    lead.save()
    assert outcomes(wf) == [TriggerOutcome.FIRED]  # the creation only


@pytest.mark.django_db
def test_call_count_becomes_fires_when_a_call_is_recorded(make_lead):
    from leads.models import Call

    wf = make_workflow(
        [("CALL_COUNT", {"operator": "greater_than_or_equal", "value": 2, "when": "becomes"})],
        delay={"delay_mode": "fixed", "delay_hours": 1},
    )
    lead = make_lead()
    for _ in range(4):
        Call.record(lead=lead, call_type="OUTBOUND")
    [trigger] = Trigger.objects.filter(workflow=wf)
    assert trigger.occurrence["call"]["id"] == lead.calls.order_by("id")[1].pk  # the second call


@pytest.mark.django_db
def test_submitted_by_becomes_fires_only_when_it_changes(make_lead):
    wf = make_workflow(
        [("SUBMITTED_BY", {"values": ["agent"], "when": "becomes"})],
        delay={"delay_mode": "fixed", "delay_hours": 1},
    )
    lead = make_lead(submitted_by="api")
    lead.submitted_by = "agent"
    lead.save()
    lead.first_name = "Again"
    lead.save()
    assert outcomes(wf) == [TriggerOutcome.FIRED]


@pytest.mark.django_db
def test_the_engine_reads_the_state_before_only_for_becomes_candidates(make_lead, monkeypatch):
    make_workflow([("LEAD_FIELDS", {"field": "state", "operator": "equals", "value": "CA"})])
    calls = []
    original = engine.previous_state
    monkeypatch.setattr(engine, "previous_state", lambda *a: calls.append(a) or original(*a))
    lead = make_lead(state="NV")
    lead.first_name = "X"
    lead.save()
    assert calls == []  # nothing matched, nothing stops: no copy of the lead


@pytest.mark.django_db
def test_becomes_is_refused_on_call_data():
    from automation.document.schema import ConfigError
    from automation.engine import events

    with pytest.raises(ConfigError) as caught:
        events.validate(
            "LEAD_FIELDS",
            {"field": "call.length", "operator": "greater_than", "value": 5, "when": "becomes"},
        )
    assert "config.when" in caught.value.errors
    with pytest.raises(ConfigError) as caught:
        events.validate("DISPOSITION", {"values": ["SALE"], "when": "becomes"})
    assert caught.value.errors["config.when"] == "unknown key"


@pytest.mark.django_db
def test_the_dry_run_explains_becomes(make_lead):
    from automation.document import dryrun

    wf = make_workflow(
        [
            (
                "LEAD_FIELDS",
                {"field": "state", "operator": "equals", "value": "CA", "when": "becomes"},
            )
        ],
        delay={"delay_mode": "fixed", "delay_hours": 1},
    )
    lead = make_lead(state="CA")

    def explained(facts=None):
        report = dryrun.explain(wf, lead, facts)
        [condition] = report["conditions"]
        return report["outcome"], condition["why"]

    outcome, why = explained()
    assert outcome == "no_match"
    assert why == (
        "becomes: state is 'CA': matches equals 'CA', but this occurrence changed nothing "
        "it reads (it was so already)"
    )
    outcome, why = explained({"previous": {"state": "NV"}})
    assert outcome == "fired"
    assert why == (
        "becomes: state is 'CA': matches equals 'CA'; before this occurrence state was 'NV': "
        "did not match equals 'CA': it became true"
    )
    outcome, why = explained({"previous": {"state": "ca"}})
    assert outcome == "no_match"
    assert why.endswith("state was 'ca': matched equals 'CA': it did not become true")
    outcome, why = explained({"lead_action": "create"})
    assert outcome == "fired"
    assert why.endswith("the lead is being created, which counts as a change")


@pytest.mark.django_db
def test_the_api_dry_run_takes_the_previous_values(make_lead):
    from django.contrib.auth.models import User
    from rest_framework.test import APIClient

    admin_user = User.objects.create_superuser("boss", "boss@example.com", "pw-boss-123")
    wf = make_workflow(
        [("CALL_COUNT", {"operator": "greater_than", "value": 2, "when": "becomes"})],
        delay={"delay_mode": "fixed", "delay_hours": 1},
    )
    lead = make_lead(called_count=3)
    client = APIClient()
    client.force_authenticate(admin_user)
    url = f"/api/v1/workflows/{wf.pk}/dry-run/"
    body = {"lead": lead.pk, "facts": {"previous": {"called_count": 2}}}
    response = client.post(url, body, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["outcome"] == "fired"
    bad = client.post(url, {"lead": lead.pk, "facts": {"previous": [1]}}, format="json")
    assert bad.status_code == 400
