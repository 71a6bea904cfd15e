"""The 13 condition operators (SPEC §4.2): examples, odd data, and properties."""

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from automation.constants import Operator
from automation.engine.conditions import (
    OPERATORS,
    as_datetime,
    as_number,
    compare,
    prepare,
    validate_condition_value,
)

NAN = float("nan")
INF = float("inf")


def test_it_registers_one_function_per_operator_code():
    assert set(OPERATORS) == set(Operator.values)


def test_it_raises_on_an_unknown_operator_only():
    with pytest.raises(ValueError, match="unknown operator"):
        compare("roughly", 1, 1)
    with pytest.raises(ValueError, match="unknown operator"):
        compare(None, 1, 1)


# --- Reading values ----------------------------------------------------------


@pytest.mark.parametrize(
    "raw, number",
    [
        (3, Decimal(3)),
        (" 3.50 ", Decimal("3.50")),
        ("-1e3", Decimal("-1000")),
        (".5", Decimal("0.5")),
        (0.1, Decimal("0.1")),
        (Decimal("2.5"), Decimal("2.5")),
    ],
)
def test_it_reads_numbers(raw, number):
    assert as_number(raw) == number


@pytest.mark.parametrize(
    "raw",
    [True, False, None, "", "abc", "1,000", "1_000", "NaN", "inf", NAN, INF, Decimal("NaN"),
     "٣", [1], {"a": 1}, date(2026, 1, 31), "2026-01-31"],
)  # fmt: skip
def test_it_reads_no_number_from(raw):
    assert as_number(raw) is None


@pytest.mark.parametrize(
    "raw, parsed",
    [
        ("2026-01-31", date(2026, 1, 31)),
        (" 2026-01-31T10:00:00+00:00 ", datetime(2026, 1, 31, 10, tzinfo=UTC)),
        ("2026-01-31T10:00Z", datetime(2026, 1, 31, 10, tzinfo=UTC)),
        ("2026-01-31 10:00:00", datetime(2026, 1, 31, 10)),
        (date(2026, 1, 31), date(2026, 1, 31)),
    ],
)
def test_it_reads_dates(raw, parsed):
    assert as_datetime(raw) == parsed


@pytest.mark.parametrize("raw", ["2026-02-30", "20260131", "31/01/2026", "abc", 20260131, None])
def test_it_reads_no_date_from(raw):
    assert as_datetime(raw) is None


# --- equals / not_equals -----------------------------------------------------


@pytest.mark.parametrize(
    "actual, value",
    [
        ("CA", "ca"),
        ("  California ", "CALIFORNIA"),
        (3, "3"),
        (" 3.50 ", 3.5),
        (Decimal("3.0"), 3),
        (0.1, "0.1"),
        ("2026-01-31", date(2026, 1, 31)),
        (datetime(2026, 1, 31, 10, 0), "2026-01-31"),  # a datetime equals its day
        ("2026-01-31T10:00:00+00:00", datetime(2026, 1, 31, 10)),  # naive read as UTC
        ("2026-01-31T05:00:00-05:00", "2026-01-31T10:00:00Z"),
        (True, "true"),
        (None, ""),
    ],
)
def test_it_finds_equal(actual, value):
    assert compare(Operator.EQUALS, actual, value)
    assert not compare(Operator.NOT_EQUALS, actual, value)


@pytest.mark.parametrize(
    "actual, value",
    [
        ("CA", "NV"),
        ("abc", 3),
        (True, 1),
        (None, "CA"),
        ([], ""),
        ({"a": 1}, "a"),
        (["CA"], "CA"),
        (NAN, NAN),
        (NAN, "nan"),
        (datetime(2026, 1, 31, 10), datetime(2026, 1, 31, 11)),
    ],
)
def test_it_finds_not_equal(actual, value):
    assert not compare(Operator.EQUALS, actual, value)
    assert compare(Operator.NOT_EQUALS, actual, value)


# --- ordering ----------------------------------------------------------------


def test_it_orders_numbers_as_numbers_not_text():
    assert compare(Operator.GREATER_THAN, "10", "9")
    assert compare(Operator.LESS_THAN, 9, " 10 ")
    assert compare(Operator.GREATER_THAN_OR_EQUAL, "3.0", 3)
    assert compare(Operator.LESS_THAN_OR_EQUAL, Decimal("2.99"), "3")
    assert not compare(Operator.LESS_THAN, 3, 3)


def test_it_orders_dates_as_dates():
    assert compare(Operator.GREATER_THAN, "2026-02-01", "2026-01-31")
    assert compare(Operator.LESS_THAN, date(2025, 12, 31), "2026-01-01")
    # A datetime compares with a date by its day.
    assert not compare(Operator.GREATER_THAN, datetime(2026, 1, 31, 23), "2026-01-31")
    assert compare(Operator.GREATER_THAN_OR_EQUAL, datetime(2026, 1, 31, 23), "2026-01-31")
    # Aware against naive: the naive one is UTC.
    assert compare(
        Operator.LESS_THAN,
        datetime(2026, 1, 31, 10, tzinfo=timezone(timedelta(hours=2))),  # 08:00 UTC
        datetime(2026, 1, 31, 9),
    )


@pytest.mark.parametrize(
    "actual, value",
    [("b", "a"), ("abc", 3), (3, "abc"), (None, 3), (True, 0), ([5], 3), (NAN, 1), (INF, 1),
     ("2026-01-31", 3), ({"n": 5}, 3)],
)  # fmt: skip
def test_it_never_orders_mismatched_or_text_values(actual, value):
    for op in ("greater_than", "greater_than_or_equal", "less_than", "less_than_or_equal"):
        assert not compare(op, actual, value), op


# --- within ------------------------------------------------------------------


def test_it_matches_within_a_list_of_values():
    assert compare(Operator.WITHIN, "ca", values=["NV", "CA"])
    assert compare(Operator.WITHIN, 3, values=["1", "3.0"])
    assert not compare(Operator.WITHIN, "OR", values=["NV", "CA"])
    assert not compare(Operator.WITHIN, "CA", values=[])


def test_it_accepts_within_a_list_or_comma_separated_value():
    assert compare(Operator.WITHIN, "NV", value="CA, NV")
    assert compare(Operator.WITHIN, "nv", value=["CA", "NV"])
    assert not compare(Operator.WITHIN, "", value="CA, , NV")
    assert not compare(Operator.WITHIN, None, value="CA,NV")


# --- starts_with / contains ---------------------------------------------------


def test_it_matches_starts_with_case_insensitively():
    assert compare(Operator.STARTS_WITH, "Los Angeles", "los")
    assert compare(Operator.STARTS_WITH, 3105550100, "310")
    assert not compare(Operator.STARTS_WITH, "Angeles", "los")


def test_it_matches_contains_case_insensitively():
    assert compare(Operator.CONTAINS, "Sale follow-up", "FOLLOW")
    assert compare(Operator.CONTAINS, 3105550100, "555")
    assert not compare(Operator.CONTAINS, "Sale", "follow")


@pytest.mark.parametrize("actual", [None, "", "   ", [], ["abc"], {"abc": 1}, NAN])
def test_it_never_matches_text_operators_on_blank_or_shapeless_actual(actual):
    assert not compare(Operator.STARTS_WITH, actual, "a")
    assert not compare(Operator.CONTAINS, actual, "a")
    assert not compare(Operator.CONTAINS, actual, "")


# --- is_blank / is_not_blank / is_numeric ---------------------------------------


@pytest.mark.parametrize("actual", [None, "", "  \t\n", [], {}, ()])
def test_it_finds_blank(actual):
    assert compare(Operator.IS_BLANK, actual)
    assert not compare(Operator.IS_NOT_BLANK, actual)


@pytest.mark.parametrize(
    "actual", [0, False, "0", " x ", [None], {"a": None}, NAN, date(2026, 1, 1)]
)
def test_it_finds_not_blank(actual):
    assert not compare(Operator.IS_BLANK, actual)
    assert compare(Operator.IS_NOT_BLANK, actual)


@pytest.mark.parametrize("actual", [0, -3, 2.5, Decimal("1.10"), " 42 ", "-1e3", "+.5"])
def test_it_finds_numeric(actual):
    assert compare(Operator.IS_NUMERIC, actual)


@pytest.mark.parametrize(
    "actual", [True, False, None, "", "abc", "12a", NAN, INF, "nan", "Infinity", [1], "2026-01-31"]
)
def test_it_finds_not_numeric(actual):
    assert not compare(Operator.IS_NUMERIC, actual)


# --- between -----------------------------------------------------------------


def test_it_matches_between_postal_codes_numerically():
    assert compare(Operator.BETWEEN, "90210", "90000", "96199")
    assert compare(Operator.BETWEEN, "90000", "90000", "96199")  # inclusive
    assert compare(Operator.BETWEEN, 96199, "90000", "96199")
    assert not compare(Operator.BETWEEN, "10001", "90000", "96199")
    assert not compare(Operator.BETWEEN, "9021A", "90000", "96199")  # not a number


def test_it_matches_between_reversed_ends():
    assert compare(Operator.BETWEEN, "90210", "96199", "90000")
    assert compare(Operator.BETWEEN, "2026-03-01", "2026-12-31", "2026-01-01")
    assert compare(Operator.BETWEEN, "m", "Z", "a")


def test_it_matches_between_dates_by_date():
    assert compare(Operator.BETWEEN, date(2026, 3, 1), "2026-01-01", "2026-12-31")
    assert compare(Operator.BETWEEN, datetime(2026, 12, 31, 23, 59), "2026-01-01", "2026-12-31")
    assert not compare(Operator.BETWEEN, "2027-01-01", "2026-01-01", "2026-12-31")
    assert not compare(Operator.BETWEEN, 20260301, "2026-01-01", "2026-12-31")


def test_it_matches_between_text_lexically_and_case_insensitively():
    assert compare(Operator.BETWEEN, "Kansas", "a", "m")
    assert compare(Operator.BETWEEN, "K1A 0B1", "k0a", "k9z")  # Canadian postal codes
    assert not compare(Operator.BETWEEN, "Texas", "a", "m")


@pytest.mark.parametrize("actual", [None, "", [], {"a": 1}, NAN, True])
def test_it_never_matches_between_on_odd_actual(actual):
    assert not compare(Operator.BETWEEN, actual, "1", "9")
    assert not compare(Operator.BETWEEN, actual, "2026-01-01", "2026-12-31")


# --- validation --------------------------------------------------------------


@pytest.mark.parametrize(
    "operator, value, value2, values",
    [
        ("equals", "CA", None, None),
        ("equals", 0, None, None),
        ("greater_than", "3", None, None),
        ("less_than", "2026-01-31", None, None),
        ("within", None, None, ["CA", "NV"]),
        ("within", "CA, NV", None, None),
        ("within", ["CA"], None, None),
        ("between", "90000", "96199", None),
        ("is_blank", None, None, None),
        ("is_numeric", None, None, None),
        ("contains", "x", None, None),
    ],
)
def test_it_accepts_well_shaped_arguments(operator, value, value2, values):
    validate_condition_value(operator, value, value2, values)


@pytest.mark.parametrize(
    "operator, value, value2, values, message",
    [
        ("nope", "x", None, None, "unknown operator"),
        ("equals", None, None, None, "needs a value"),
        ("starts_with", "  ", None, None, "needs a value"),
        ("contains", ["a"], None, None, "not a list"),
        ("greater_than", None, None, None, "needs a value"),
        ("greater_than", "abc", None, None, "number or a date"),
        ("between", "1", None, None, "needs a value2"),
        ("between", None, "9", None, "needs a value"),
        ("within", None, None, None, "at least one value"),
        ("within", None, None, [], "at least one value"),
        ("within", " , ", None, None, "at least one value"),
        ("within", None, None, "CA", "as a list"),
        ("within", None, None, ["CA", None], "needs a value"),
        ("within", None, None, [["CA"]], "not a list"),
    ],
)
def test_it_rejects_ill_shaped_arguments(operator, value, value2, values, message):
    with pytest.raises(ValueError, match=message):
        validate_condition_value(operator, value, value2, values)


# --- Properties --------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.integers(),
    st.floats(),
    st.decimals(),
    st.text(),
    st.booleans(),
    st.dates(),
    st.datetimes(timezones=st.none() | st.timezones()),
    st.sampled_from(["3", " 3.50 ", "2026-01-31", "2026-01-31T10:00:00+00:00", "CA", "", " "]),
)
anything = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.text(max_size=3), scalars, max_size=2),
)
numbers = st.one_of(st.integers(), st.decimals(allow_nan=False, allow_infinity=False))


@given(op=st.sampled_from(Operator.values), actual=anything, value=anything, value2=anything)
def test_it_never_raises_on_any_data(op, actual, value, value2):
    assert isinstance(compare(op, actual, value, value2), bool)
    assert isinstance(compare(op, actual, value, value2, values=[value, value2]), bool)


@given(actual=anything, value=anything)
def test_not_equals_is_exactly_not_equals(actual, value):
    assert compare("not_equals", actual, value) is not compare("equals", actual, value)


@given(actual=anything)
def test_is_blank_and_is_not_blank_are_exclusive(actual):
    assert compare("is_blank", actual) != compare("is_not_blank", actual)


@given(a=numbers, b=numbers, as_text=st.booleans())
def test_numeric_ordering_agrees_with_python(a, b, as_text):
    value = str(b) if as_text else b
    assert compare("greater_than", a, value) == (a > b)
    assert compare("greater_than_or_equal", a, value) == (a >= b)
    assert compare("less_than", a, value) == (a < b)
    assert compare("less_than_or_equal", a, value) == (a <= b)
    assert compare("equals", a, value) == (a == b)


@given(a=st.dates(), b=st.dates())
def test_date_ordering_agrees_with_python(a, b):
    assert compare("greater_than", a.isoformat(), b) == (a > b)
    assert compare("less_than_or_equal", a, b.isoformat()) == (a <= b)


@given(x=anything, a=anything, b=anything)
def test_between_ignores_the_order_of_its_ends(x, a, b):
    assert compare("between", x, a, b) == compare("between", x, b, a)


@given(x=numbers, a=numbers, b=numbers)
def test_between_numbers_agrees_with_python(x, a, b):
    assert compare("between", x, str(a), b) == (min(a, b) <= x <= max(a, b))


@given(x=anything, v=anything)
def test_within_one_value_is_equals(x, v):
    assert compare("within", x, values=[v]) == compare("equals", x, v)


@given(x=anything, vs=st.lists(anything, max_size=4))
def test_within_is_equals_to_any(x, vs):
    assert compare("within", x, values=vs) == any(compare("equals", x, v) for v in vs)


@given(x=scalars, v=st.text())
def test_text_operators_ignore_case(x, v):
    # Case-folding differs from upper()/lower() for a few letters (ß, İ…): skip those.
    assume(v.upper().casefold() == v.casefold() == v.lower().casefold())
    for op in ("starts_with", "contains", "equals"):
        assert compare(op, x, v) == compare(op, x, v.upper()) == compare(op, x, v.lower())


@given(x=anything)
def test_is_numeric_means_a_finite_number_that_is_not_a_bool(x):
    assert compare("is_numeric", x) == (as_number(x) is not None)
    if isinstance(x, bool) or x is None:
        assert not compare("is_numeric", x)


# --- Prepared (the engine's form): the same answers as compare ---------------

# Forms of a few values, so that equal and ordered pairs come up often.
close = st.sampled_from(
    [3, "3", " 3.0 ", 3.0, Decimal("3.00"), "03", 4, "-1e3", "2026-01-31",
     date(2026, 1, 31), datetime(2026, 1, 31, 10, tzinfo=UTC), "2026-01-31T10:00:00Z",
     datetime(2026, 1, 31, 10), "ca", " CA ", "Ca, nv", "", None, True, "true", "c"]
)  # fmt: skip
prepared_args = st.one_of(close, anything)


@pytest.mark.parametrize("op", Operator.values)
@settings(max_examples=300)
@given(
    actual=prepared_args,
    value=prepared_args,
    value2=prepared_args,
    values=st.none() | st.lists(prepared_args, max_size=3),
)
def test_a_prepared_condition_answers_as_compare(op, actual, value, value2, values):
    assert prepare(op, value, value2, values)(actual) is compare(op, actual, value, value2, values)


def test_a_prepared_condition_reads_its_value_once():
    test = prepare("greater_than", " 1e3 ")
    assert [test(x) for x in (1001, "999", "1000.5", None, "abc")] == [
        True, False, True, False, False
    ]  # fmt: skip
    with pytest.raises(ValueError, match="unknown operator"):
        prepare("roughly", 1)


# --- A declared custom field's type (SPEC C.2) -----------------------------------------


@pytest.mark.parametrize(
    ("operator", "actual", "value", "value2", "kind", "matches"),
    [
        # Undeclared (no kind): numbers first, as always.
        (Operator.EQUALS, "01234", 1234, None, None, True),
        # Text and choice compare as text only.
        (Operator.EQUALS, "01234", 1234, None, "text", False),
        (Operator.EQUALS, "01234", "01234", None, "text", True),
        (Operator.GREATER_THAN, "9", "10", None, "text", False),
        (Operator.EQUALS, "Tile", "tile", None, "choice", True),
        # Numbers compare numerically and never as dates.
        (Operator.GREATER_THAN, "250", 100, None, "number", True),
        (Operator.EQUALS, "3.0", "3", None, "number", True),
        (Operator.BETWEEN, "20260115", "20260101", "20260201", "number", True),
        # Dates compare as dates and never as numbers.
        (Operator.BETWEEN, "2026-01-15", "2026-01-01", "2026-02-01", "date", True),
        (Operator.LESS_THAN, "2026-01-15T10:00:00", "2026-01-16", None, "datetime", True),
        (Operator.GREATER_THAN, "2027", 2026, None, "date", False),
        # Yes/no values read as true/false.
        (Operator.EQUALS, True, "yes", None, "boolean", True),
        (Operator.EQUALS, "no", False, None, "boolean", True),
        (Operator.EQUALS, "1", True, None, "boolean", True),
        (Operator.NOT_EQUALS, False, True, None, "boolean", True),
    ],
)
def test_it_compares_a_custom_field_by_its_declared_type(
    operator, actual, value, value2, kind, matches
):
    assert compare(operator, actual, value, value2, kind=kind) is matches
    assert prepare(operator, value, value2, kind=kind)(actual) is matches


def test_an_unknown_kind_reads_values_as_undeclared():
    assert compare(Operator.EQUALS, "01234", 1234, kind="colour") is True
