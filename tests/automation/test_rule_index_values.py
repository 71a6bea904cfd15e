"""The rule index files equals/within rules by value; it must agree with `equals` exactly."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from automation import conditions
from automation.rules import Condition, actual_keys, constant_keys, discriminator

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False, places=3),
    st.text(max_size=8),
    st.sampled_from(["US", " us ", "01234", "1234", "1,000", "1e3", "2026-01-31", "true", ""]),
)


@given(actual=scalars, value=scalars)
def test_a_value_that_equals_the_constant_is_found_under_its_key(actual, value):
    keys = constant_keys(value)
    if keys is None or not conditions.compare("equals", actual, value):
        return
    assert keys & set(actual_keys(actual)), (actual, value)


def lead_fields(operator, **config):
    return Condition("LEAD_FIELDS", {"field": "state", "operator": operator, **config})


def test_it_indexes_equals_and_within_but_not_dates_or_other_operators():
    assert discriminator([lead_fields("equals", value="CA")]) == ("state", frozenset({("t", "ca")}))
    assert discriminator([lead_fields("within", values=["CA", "NV"])])[1] == {
        ("t", "ca"),
        ("t", "nv"),
    }
    assert discriminator([lead_fields("equals", value="2026-01-31")]) is None
    assert discriminator([lead_fields("contains", value="CA")]) is None
    call_field = Condition(
        "LEAD_FIELDS", {"field": "call.length", "operator": "equals", "value": 3}
    )
    assert discriminator([call_field]) is None


@pytest.mark.parametrize(
    "stored, condition_value, fires",
    [("ca", "CA", True), (" CA ", "ca", True), ("NV", "CA", False), ("01234", "1234", True)],
)
def test_an_indexed_workflow_fires_exactly_when_equals_holds(
    make_lead, campaign, stored, condition_value, fires
):
    from automation import rules
    from automation.models import ActionSet, EventCondition, Trigger, Workflow

    rules.invalidate()
    wf = Workflow.objects.create(name="By state")
    wf.campaigns.add(campaign)
    EventCondition.objects.create(workflow=wf, type="LEAD_ACTION", config={"values": ["create"]})
    EventCondition.objects.create(
        workflow=wf,
        type="LEAD_FIELDS",
        config={"field": "state", "operator": "equals", "value": condition_value},
    )
    ActionSet.objects.create(workflow=wf)
    make_lead(state=stored)
    assert Trigger.objects.filter(workflow=wf).exists() is fires
    rules.invalidate()
