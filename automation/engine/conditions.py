"""The 13 condition operators: pure Python, no ORM (SPEC §4.2).

`prepare(operator, value, value2, values)` looks the operator up in
`OPERATORS` (code → one small function) and returns its test with the
configured arguments read once; `compare(operator, actual, …)` is that test
applied once. It never raises on odd
data: a value of the wrong type simply does not match. Only an unknown
operator code raises `ValueError`, a programming error that validation
(`validate_condition_value`) catches first.

How values are read (type-aware, in this order):

1. **Numbers**, when both sides parse as finite numbers (`as_number`): ints,
   floats, Decimals and numeric strings (`"3"`, `" 3.50 "`, `"-1e3"`; ASCII
   digits only, no thousands separators). They compare exactly as Decimals,
   so `"3.0"` equals `3`. A float is read as its shortest repr, so `0.1`
   equals `"0.1"`. Bools are not numbers; NaN and infinities are not numbers.
   A consequence to keep in mind: `"01234"` equals `1234`.
2. **Dates**, when both sides parse as dates (`as_datetime`): `date`,
   `datetime`, ISO strings `2026-01-31`, `2026-01-31T10:00[:00[.ffffff]]`
   with an optional `Z` or `±HH:MM` offset. When either side is a plain date,
   both compare by their (wall-clock) date, so a datetime *equals* the day
   it falls on. Two naive datetimes compare as given; when one is aware and
   the other naive, the naive one is read in the lead's zone (SPEC §4.4: a
   value without an offset is in the lead's zone), or UTC without a lead.
3. **Text** otherwise: the string form of each side, stripped of whitespace
   and case-folded. None reads as "", bools as "true"/"false", dates in ISO
   form; lists, dicts, NaN and other objects have no text form and match
   nothing.

Per operator:

- equals / not_equals: numbers, else dates, else text. not_equals is exactly
  `not equals` (so a blank field "is not equal to" CA).
- greater_than / greater_than_or_equal / less_than / less_than_or_equal:
  numbers, else dates, else no match: no lexical ordering.
- within: `equals` against any candidate. Candidates are `values` (a list)
  when given, else `value`: a list, or a comma-separated string `"CA, NV"`.
- starts_with / contains: on the text form; a blank actual or a blank value
  never matches.
- is_blank: None, a whitespace-only string, an empty list/tuple/set/dict.
  is_not_blank is exactly `not is_blank`.
- is_numeric: the actual parses as a finite number (as above).
- between: inclusive; numeric when both ends are numbers, by date when both
  ends are dates, else lexical on the text form (postal codes
  `"90000"`–`"96199"`). The ends may come in either order.

A declared custom field's type (SPEC C.2, `kind`) narrows how values are read:
`number` never reads a date, `date`/`datetime` never a number, `text` and
`choice` are text only (`"01234"` does not equal `1234`), and `boolean` reads
true/false, yes/no, 1/0 as the text "true"/"false". Without a kind (lead
fields, call data) values are read as above.
"""

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from typing import Any

from automation.constants import Operator

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})?",
    re.ASCII,
)
_COLLECTIONS = (list, tuple, set, frozenset, dict)


# --- Reading values ----------------------------------------------------------


def as_number(x: Any) -> Decimal | None:
    """The finite number `x` stands for, as a Decimal, or None.

    Accepts int, float, Decimal and numeric strings (surrounding whitespace
    allowed). Bools, NaN, infinities and everything else give None.
    """
    try:
        if isinstance(x, bool):
            return None
        if isinstance(x, int):
            return Decimal(x)
        if isinstance(x, float):
            # The shortest repr, so that 0.1 reads as the 0.1 a person typed.
            return Decimal(repr(x)) if math.isfinite(x) else None
        if isinstance(x, Decimal):
            return x if x.is_finite() else None
        if isinstance(x, str):
            text = x.strip()
            return Decimal(text) if _NUMBER.fullmatch(text) else None
    except (ArithmeticError, ValueError):  # InvalidOperation is an ArithmeticError
        return None
    return None


def as_datetime(x: Any) -> datetime | date | None:
    """The date or datetime `x` stands for, or None.

    A `date` or `datetime` is returned as is. An ISO string gives a `date`
    (`2026-01-31`) or a `datetime` (`2026-01-31T10:00:00`, aware when it
    carries `Z` or an offset, else naive). Everything else gives None.
    """
    if isinstance(x, date):  # datetime is a date too
        return x
    if not isinstance(x, str):
        return None
    text = x.strip()
    try:
        if _DATE.fullmatch(text):
            return date.fromisoformat(text)
        if _DATETIME.fullmatch(text):
            return datetime.fromisoformat(text)
    except ValueError:  # well-formed but impossible, e.g. 2026-02-30
        return None
    return None


def as_text(x: Any) -> str | None:
    """The form `equals` compares text in (public: the rule index files rules by it)."""
    return _text(x)


def _text(x: Any) -> str | None:
    """The stripped, case-folded string form of `x`, or None when it has none."""
    if x is None:
        return ""
    if isinstance(x, str):
        return x.strip().casefold()
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int):
        try:
            return str(x)
        except ValueError:  # beyond Python's int-to-str digit limit
            return None
    if isinstance(x, float | Decimal):
        number = as_number(x)
        return None if number is None else str(number).casefold()
    if isinstance(x, date):
        return x.isoformat().casefold()
    return None


def _is_aware(x: datetime) -> bool:
    return x.tzinfo is not None and x.utcoffset() is not None


def _date_order(a: date, b: date, zone: tzinfo | None = None) -> int | None:
    """-1, 0 or 1 comparing two dates/datetimes (rules in the module docstring)."""
    if not (isinstance(a, datetime) and isinstance(b, datetime)):
        a = a.date() if isinstance(a, datetime) else a
        b = b.date() if isinstance(b, datetime) else b
    elif _is_aware(a) != _is_aware(b):
        zone = zone or UTC
        a = a if _is_aware(a) else a.replace(tzinfo=zone)
        b = b if _is_aware(b) else b.replace(tzinfo=zone)
    try:
        return (a > b) - (a < b)
    except (OverflowError, ValueError, TypeError):  # offsets pushing past datetime.min/max
        return None


def within_candidates(value: Any, values: Any) -> list:
    """What `within` matches against: `values`, else `value` (list or "CA, NV")."""
    source = values if values is not None else value
    if isinstance(source, str):
        return [part for part in source.split(",") if part.strip()]
    if isinstance(source, list | tuple | set | frozenset):
        return list(source)
    return [] if source is None else [source]


def _nothing(x: Any) -> None:
    return None


_TRUE, _FALSE = (
    frozenset({"true", "yes", "y", "1", "on"}),
    frozenset({"false", "no", "n", "0", "off"}),
)


def _boolean_text(x: Any) -> str | None:
    """A yes/no value as the text "true" or "false" (else its text form)."""
    text = _text(x)
    if text in _TRUE:
        return "true"
    if text in _FALSE:
        return "false"
    return text


@dataclass(frozen=True)
class Reading:
    """How an operator reads the two sides: as a number, as a date, as text."""

    number: Callable[[Any], Decimal | None] = as_number
    when: Callable[[Any], datetime | date | None] = as_datetime
    text: Callable[[Any], str | None] = _text


ANY = Reading()
TEXT_ONLY = Reading(number=_nothing, when=_nothing)
# A declared custom field's type -> how its values are read (the module docstring).
READINGS = {
    "text": TEXT_ONLY,
    "choice": TEXT_ONLY,
    "number": Reading(when=_nothing),
    "date": Reading(number=_nothing),
    "datetime": Reading(number=_nothing),
    "boolean": Reading(number=_nothing, when=_nothing, text=_boolean_text),
}


# --- The registry ------------------------------------------------------------

# The argument shapes validate_condition_value checks, by operator.
NO_VALUE, VALUE, ORDERED, LIST, RANGE = "none", "value", "ordered", "list", "range"

# Each operator is ONE function of its configured arguments that reads them
# once and returns the test, `test(actual, zone=None) -> bool`: the rule index
# makes it when it compiles (a save tests a rule without re-reading its
# value), and `compare` makes it and calls it. `zone` is the lead's zone, in
# which a date-time without an offset is read (SPEC §4.4); None reads it as UTC.
# `read` is how both sides are read (a Reading: by a custom field's type).
Test = Callable[..., bool]
OPERATORS: dict[str, Callable[..., Test]] = {}
_SHAPES: dict[str, str] = {}


def _operator(code: str, shape: str):
    """Register `make(value, value2, values, read) -> test` under `code`."""

    def register(make):
        OPERATORS[code] = make
        _SHAPES[code] = shape
        return make

    return register


def _order_to(value: Any, read: Reading = ANY) -> Callable[..., int | None]:
    """`order(actual, zone)`: -1, 0 or 1 against `value` read once as a number,
    else as a date; None when the two are not both numbers or both dates."""
    number = read.number(value)
    when = read.when(value) if number is None else None  # never both
    as_num, as_when = read.number, read.when

    def order(actual, zone=None):
        if number is not None:
            a = as_num(actual)
            return None if a is None else (a > number) - (a < number)
        if when is not None:
            a = as_when(actual)
            return None if a is None else _date_order(a, when, zone)
        return None

    return order


@_operator(Operator.EQUALS, VALUE)
def equals(value=None, value2=None, values=None, read=ANY) -> Test:
    order, as_text = _order_to(value, read), read.text
    text = as_text(value)

    def test(actual, zone=None):
        found = order(actual, zone)
        if found is not None:
            return found == 0
        return text is not None and as_text(actual) == text

    return test


@_operator(Operator.NOT_EQUALS, VALUE)
def not_equals(value=None, value2=None, values=None, read=ANY) -> Test:
    test = equals(value, read=read)
    return lambda actual, zone=None: not test(actual, zone)


def _ordered(outcomes):
    def make(value=None, value2=None, values=None, read=ANY) -> Test:
        order = _order_to(value, read)
        return lambda actual, zone=None: order(actual, zone) in outcomes

    return make


greater_than = _operator(Operator.GREATER_THAN, ORDERED)(_ordered((1,)))
greater_than_or_equal = _operator(Operator.GREATER_THAN_OR_EQUAL, ORDERED)(_ordered((0, 1)))
less_than = _operator(Operator.LESS_THAN, ORDERED)(_ordered((-1,)))
less_than_or_equal = _operator(Operator.LESS_THAN_OR_EQUAL, ORDERED)(_ordered((-1, 0)))


@_operator(Operator.WITHIN, LIST)
def within(value=None, value2=None, values=None, read=ANY) -> Test:
    tests = [equals(candidate, read=read) for candidate in within_candidates(value, values)]
    return lambda actual, zone=None: any(test(actual, zone) for test in tests)


def _text_test(check):
    def make(value=None, value2=None, values=None, read=ANY) -> Test:
        as_text = read.text
        wanted = as_text(value)
        if not wanted:
            return lambda actual, zone=None: False
        return lambda actual, zone=None: bool(a := as_text(actual)) and check(a, wanted)

    return make


starts_with = _operator(Operator.STARTS_WITH, VALUE)(_text_test(str.startswith))
contains = _operator(Operator.CONTAINS, VALUE)(_text_test(lambda a, wanted: wanted in a))


def _blank(actual) -> bool:
    if actual is None:
        return True
    if isinstance(actual, str):
        return not actual.strip()
    if isinstance(actual, _COLLECTIONS):
        return len(actual) == 0
    return False


@_operator(Operator.IS_BLANK, NO_VALUE)
def is_blank(value=None, value2=None, values=None, read=ANY) -> Test:
    return lambda actual, zone=None: _blank(actual)


@_operator(Operator.IS_NOT_BLANK, NO_VALUE)
def is_not_blank(value=None, value2=None, values=None, read=ANY) -> Test:
    return lambda actual, zone=None: not _blank(actual)


@_operator(Operator.IS_NUMERIC, NO_VALUE)
def is_numeric(value=None, value2=None, values=None, read=ANY) -> Test:
    return lambda actual, zone=None: as_number(actual) is not None


@_operator(Operator.BETWEEN, RANGE)
def between(value=None, value2=None, values=None, read=ANY) -> Test:
    """Inclusive; the ends may be reversed (`a <= x <= b or b <= x <= a`)."""
    if read.number(value) is not None and read.number(value2) is not None:
        kind = read.number
    elif read.when(value) is not None and read.when(value2) is not None:
        kind = read.when
    else:
        kind = None
    if kind is None:
        as_text = read.text
        lexical_low, lexical_high = as_text(value), as_text(value2)

        def order(actual, end, zone):
            a = as_text(actual)
            if not a or end is None:
                return None
            return (a > end) - (a < end)

        ends = (lexical_low, lexical_high)
    else:
        ends = (_order_to(value, read), _order_to(value2, read))

        def order(actual, end, zone):
            return end(actual, zone) if kind(actual) is not None else None

    def test(actual, zone=None):
        low, high = order(actual, ends[0], zone), order(actual, ends[1], zone)
        if low is None or high is None:
            return False
        return (low in (0, 1) and high in (-1, 0)) or (high in (0, 1) and low in (-1, 0))

    return test


# --- Entry points ------------------------------------------------------------


def prepare(
    operator: str,
    value: Any = None,
    value2: Any = None,
    values: Any = None,
    kind: str | None = None,
) -> Test:
    """The operator's test with these arguments read once: `test(actual, zone=None)`.
    `kind`: the declared type of the custom field compared (READINGS), if it is one.

    Raises ValueError for an unknown operator code only.
    """
    make = OPERATORS.get(operator) if isinstance(operator, str) else None
    if make is None:
        raise ValueError(f"unknown operator {operator!r}")
    return make(value, value2, values, READINGS.get(kind, ANY))


def compare(
    operator: str,
    actual: Any,
    value: Any = None,
    value2: Any = None,
    values: Any = None,
    zone: tzinfo | None = None,
    kind: str | None = None,
) -> bool:
    """Does `actual` match `operator` with these arguments? Never raises on data.

    Raises ValueError for an unknown operator code only.
    """
    return prepare(operator, value, value2, values, kind)(actual, zone)


def _require_scalar(operator: str, name: str, x: Any) -> None:
    if x is None or (isinstance(x, str) and not x.strip()):
        raise ValueError(f"'{operator}' needs a {name}")
    if isinstance(x, _COLLECTIONS):
        raise ValueError(f"'{operator}' needs a single {name}, not a list")


def validate_condition_value(
    operator: str, value: Any = None, value2: Any = None, values: Any = None
) -> None:
    """Raise ValueError (with a message for a field error) on ill-shaped arguments."""
    shape = _SHAPES.get(operator) if isinstance(operator, str) else None
    if shape is None:
        raise ValueError(f"unknown operator {operator!r}")
    if shape in (VALUE, ORDERED):
        _require_scalar(operator, "value", value)
    if shape == ORDERED and as_number(value) is None and as_datetime(value) is None:
        raise ValueError(f"'{operator}' needs a number or a date, not {value!r}")
    if shape == RANGE:
        _require_scalar(operator, "value", value)
        _require_scalar(operator, "value2", value2)
    if shape == LIST:
        if values is not None and not isinstance(values, list | tuple):
            raise ValueError(f"'{operator}' needs values as a list")
        candidates = within_candidates(value, values)
        if not candidates:
            raise ValueError(f"'{operator}' needs at least one value")
        for candidate in candidates:
            _require_scalar(operator, "value in its list", candidate)
