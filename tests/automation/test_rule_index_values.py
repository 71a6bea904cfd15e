"""The rule index files rules by a condition; it must agree with the operator exactly."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from automation.engine import conditions
from automation.engine.buckets import BOUNDS, Bucket, actual_keys, constant_keys, discriminator
from automation.engine.compiled import Condition, Rule
from automation.engine.occurrences import Occurrence
from leads.models import Lead

BOUND_OPERATORS = [str(op) for op in BOUNDS]

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


def test_it_indexes_equals_within_prefixes_and_numeric_bounds():
    assert discriminator([lead_fields("equals", value="CA")]) == (
        "value",
        "state",
        frozenset({("t", "ca")}),
    )
    assert discriminator([lead_fields("within", values=["CA", "NV"])])[2] == {
        ("t", "ca"),
        ("t", "nv"),
    }
    assert discriminator([lead_fields("starts_with", value=" 90 ")]) == ("prefix", "state", "90")
    assert discriminator([lead_fields("greater_than", value="5")]) == (
        "above",
        "state",
        (Decimal(5), False),
    )
    assert discriminator([lead_fields("less_than_or_equal", value=2.5)]) == (
        "below",
        "state",
        (Decimal("2.5"), True),
    )


def test_it_evaluates_dates_other_operators_and_call_data_in_full():
    assert discriminator([lead_fields("equals", value="2026-01-31")]) is None
    assert discriminator([lead_fields("greater_than", value="2026-01-31")]) is None
    assert discriminator([lead_fields("contains", value="CA")]) is None
    assert discriminator([lead_fields("between", value="1", value2="5")]) is None
    call_field = Condition(
        "LEAD_FIELDS", {"field": "call.length", "operator": "equals", "value": 3}
    )
    assert discriminator([call_field]) is None


def test_it_files_a_rule_by_its_most_selective_condition():
    conds = [
        lead_fields("greater_than", value=3),
        lead_fields("starts_with", value="9"),
        lead_fields("equals", value="CA"),
    ]
    assert discriminator(conds)[0] == "value"
    assert discriminator(conds[:2])[0] == "prefix"


INDEXED = ["equals", "within", "starts_with", *BOUND_OPERATORS]


def found(operator, actual, value):
    """Does a bucket holding one rule `custom.x <operator> value` return it for `actual`?"""
    condition = Condition(
        "LEAD_FIELDS", {"field": "custom.x", "operator": operator, "value": value}
    )
    rule = Rule(
        id=1,
        name="r",
        relation="campaign",
        relation_mode="within",
        object_ids=frozenset(),
        all_campaigns=True,
        stop_if="never",
        stop_filter=(),
        skip_if_pending=False,
        schedule=None,
        perform_action_on=100,
        conditions=(condition,),
        action_sets=(),
        discriminator=discriminator([condition]),
    )
    bucket = Bucket()
    bucket.add(rule)
    bucket.seal()
    occ = Occurrence(lead_id=1, occurred_at=datetime(2026, 1, 1, tzinfo=UTC))
    return rule.discriminator is not None, rule in bucket.rules_for(
        occ, Lead(custom_fields={"x": actual})
    )


@given(operator=st.sampled_from(INDEXED), actual=scalars, value=scalars)
def test_a_rule_filed_by_a_condition_is_found_whenever_the_condition_holds(operator, actual, value):
    indexed, hit = found(operator, actual, value)
    if indexed and conditions.compare(operator, actual, value):
        assert hit, (operator, actual, value)


@given(operator=st.sampled_from(["starts_with", *BOUND_OPERATORS]), actual=scalars, value=scalars)
def test_prefixes_and_bounds_find_exactly_the_rules_whose_condition_holds(operator, actual, value):
    indexed, hit = found(operator, actual, value)
    if indexed:
        assert hit == conditions.compare(operator, actual, value), (operator, actual, value)


@pytest.mark.parametrize(
    "operator, value, hits, misses",
    [
        ("starts_with", "900", ["90001", " 900 "], ["908", "90", "", None, "1900"]),
        ("greater_than", 5, [6, "5.5", 1e9], [5, "5.0", 4, "six", None, "2026-01-31"]),
        ("greater_than_or_equal", "5", [5, "5.0", 6], [4.99, "x"]),
        ("less_than", 5, [4, "-1e3"], [5, 6, None]),
        ("less_than_or_equal", 5, [5, "5.00", -7], [5.01, ""]),
    ],
)
def test_it_finds_prefix_and_bound_rules_by_the_leads_value(operator, value, hits, misses):
    for actual in hits:
        assert found(operator, actual, value) == (True, True), actual
    for actual in misses:
        assert found(operator, actual, value) == (True, False), actual


@pytest.mark.parametrize(
    "stored, condition_value, fires",
    [("ca", "CA", True), (" CA ", "ca", True), ("NV", "CA", False), ("01234", "1234", True)],
)
def test_an_indexed_workflow_fires_exactly_when_equals_holds(
    make_lead, campaign, stored, condition_value, fires
):
    from automation.engine import rules
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


def test_a_condition_tests_its_prepared_config_on_the_lead_and_call():
    lead = Lead(state=" ca ", called_count=4)
    occ = Occurrence(lead_id=1, occurred_at=datetime(2026, 1, 1, tzinfo=UTC), call={"length": 30})
    assert lead_fields("within", values=["NV", "CA"]).matches(occ, lead)
    assert not lead_fields("not_equals", value="CA").matches(occ, lead)
    assert Condition("CALL_COUNT", {"operator": "greater_than", "value": "3"}).matches(occ, lead)
    call_length = {"field": "call.length", "operator": "between", "value": 10, "value2": 60}
    assert Condition("LEAD_FIELDS", call_length).matches(occ, lead)


def test_a_config_validation_would_refuse_never_matches():
    """One bad row (say, from an old import) must neither stop the whole index
    compiling nor make the lead saves that test it fail: it matches nothing."""
    lead = Lead(state="CA", called_count=3)
    occ = Occurrence(lead_id=1, occurred_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert not lead_fields("roughly", value="CA").matches(occ, lead)
    assert not Condition("CALL_COUNT", {"value": 3}).matches(occ, lead)
    assert not Condition("LEAD_FIELDS", {"operator": "is_blank"}).matches(occ, lead)
    assert not Condition("LEAD_FIELDS", ["not", "a", "dict"]).matches(occ, lead)


def test_a_datetime_without_an_offset_is_read_in_the_leads_zone():
    """SPEC §4.4: values without an offset are in the lead's zone, for conditions
    as for delays and FIELD actions (not UTC)."""
    occ = Occurrence(lead_id=1, occurred_at=datetime(2026, 1, 1, tzinfo=UTC))
    # 09:30 in Los Angeles is 17:30 UTC.
    lead = Lead(
        timezone="America/Los_Angeles", last_called_at=datetime(2026, 3, 2, 17, 30, tzinfo=UTC)
    )
    after_nine = {
        "field": "last_called_at",
        "operator": "greater_than",
        "value": "2026-03-02T09:00",
    }
    before_ten = {"field": "last_called_at", "operator": "less_than", "value": "2026-03-02T10:00"}
    exactly = {"field": "last_called_at", "operator": "equals", "value": "2026-03-02T09:30:00"}
    for config in (after_nine, before_ten, exactly):
        assert Condition("LEAD_FIELDS", config).matches(occ, lead), config
    # Read as UTC, 10:00 would be before 17:30: not a match.
    lead.timezone = "UTC"
    assert not Condition("LEAD_FIELDS", before_ten).matches(occ, lead)
    # A custom field typed without an offset, against an aware constant.
    lead = Lead(timezone="America/New_York", custom_fields={"renewal": "2026-03-02T09:00"})
    aware = {"field": "renewal", "operator": "equals", "value": "2026-03-02T14:00:00Z"}
    assert Condition("LEAD_FIELDS", aware).matches(occ, lead)
