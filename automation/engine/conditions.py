"""The 13 condition operators: pure Python, no ORM (SPEC §4.2).

`compare(operator, actual, value, value2, values)` looks the operator up in
`OPERATORS` (code → one small function) and calls it. It never raises on odd
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
   the other naive, the naive one is read as UTC.
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
"""

import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
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


def _date_order(a: date, b: date) -> int | None:
    """-1, 0 or 1 comparing two dates/datetimes (rules in the module docstring)."""
    if not (isinstance(a, datetime) and isinstance(b, datetime)):
        a = a.date() if isinstance(a, datetime) else a
        b = b.date() if isinstance(b, datetime) else b
    elif _is_aware(a) != _is_aware(b):
        a = a if _is_aware(a) else a.replace(tzinfo=UTC)
        b = b if _is_aware(b) else b.replace(tzinfo=UTC)
    try:
        return (a > b) - (a < b)
    except (OverflowError, ValueError, TypeError):  # offsets pushing past datetime.min/max
        return None


def _order(a: Any, b: Any) -> int | None:
    """-1, 0 or 1 when `a` and `b` are both numbers, else both dates; else None."""
    na, nb = as_number(a), as_number(b)
    if na is not None and nb is not None:
        return (na > nb) - (na < nb)
    da, db = as_datetime(a), as_datetime(b)
    if da is not None and db is not None:
        return _date_order(da, db)
    return None


def within_candidates(value: Any, values: Any) -> list:
    """What `within` matches against: `values`, else `value` (list or "CA, NV")."""
    source = values if values is not None else value
    if isinstance(source, str):
        return [part for part in source.split(",") if part.strip()]
    if isinstance(source, list | tuple | set | frozenset):
        return list(source)
    return [] if source is None else [source]


# --- The registry ------------------------------------------------------------

# The argument shapes validate_condition_value checks, by operator.
NO_VALUE, VALUE, ORDERED, LIST, RANGE = "none", "value", "ordered", "list", "range"

OPERATORS: dict[str, Callable[[Any, Any, Any, Any], bool]] = {}
_SHAPES: dict[str, str] = {}


def _operator(code: str, shape: str):
    """Register `func(actual, value, value2, values) -> bool` under `code`."""

    def register(func):
        OPERATORS[code] = func
        _SHAPES[code] = shape
        return func

    return register


@_operator(Operator.EQUALS, VALUE)
def equals(actual, value=None, value2=None, values=None) -> bool:
    order = _order(actual, value)
    if order is not None:
        return order == 0
    a, b = _text(actual), _text(value)
    return a is not None and b is not None and a == b


@_operator(Operator.NOT_EQUALS, VALUE)
def not_equals(actual, value=None, value2=None, values=None) -> bool:
    return not equals(actual, value)


@_operator(Operator.GREATER_THAN, ORDERED)
def greater_than(actual, value=None, value2=None, values=None) -> bool:
    return _order(actual, value) == 1


@_operator(Operator.GREATER_THAN_OR_EQUAL, ORDERED)
def greater_than_or_equal(actual, value=None, value2=None, values=None) -> bool:
    return _order(actual, value) in (0, 1)


@_operator(Operator.LESS_THAN, ORDERED)
def less_than(actual, value=None, value2=None, values=None) -> bool:
    return _order(actual, value) == -1


@_operator(Operator.LESS_THAN_OR_EQUAL, ORDERED)
def less_than_or_equal(actual, value=None, value2=None, values=None) -> bool:
    return _order(actual, value) in (-1, 0)


@_operator(Operator.WITHIN, LIST)
def within(actual, value=None, value2=None, values=None) -> bool:
    return any(equals(actual, candidate) for candidate in within_candidates(value, values))


@_operator(Operator.STARTS_WITH, VALUE)
def starts_with(actual, value=None, value2=None, values=None) -> bool:
    a, b = _text(actual), _text(value)
    return bool(a) and bool(b) and a.startswith(b)


@_operator(Operator.CONTAINS, VALUE)
def contains(actual, value=None, value2=None, values=None) -> bool:
    a, b = _text(actual), _text(value)
    return bool(a) and bool(b) and b in a


@_operator(Operator.IS_BLANK, NO_VALUE)
def is_blank(actual, value=None, value2=None, values=None) -> bool:
    if actual is None:
        return True
    if isinstance(actual, str):
        return not actual.strip()
    if isinstance(actual, _COLLECTIONS):
        return len(actual) == 0
    return False


@_operator(Operator.IS_NOT_BLANK, NO_VALUE)
def is_not_blank(actual, value=None, value2=None, values=None) -> bool:
    return not is_blank(actual)


@_operator(Operator.IS_NUMERIC, NO_VALUE)
def is_numeric(actual, value=None, value2=None, values=None) -> bool:
    return as_number(actual) is not None


@_operator(Operator.BETWEEN, RANGE)
def between(actual, value=None, value2=None, values=None) -> bool:
    """Inclusive; the ends may be reversed (`a <= x <= b or b <= x <= a`)."""
    if as_number(value) is not None and as_number(value2) is not None:
        order = _order if as_number(actual) is not None else None
    elif as_datetime(value) is not None and as_datetime(value2) is not None:
        order = _order if as_datetime(actual) is not None else None
    else:
        order = _text_order if _text(actual) else None
    if order is None:
        return False
    low, high = order(actual, value), order(actual, value2)
    return (low in (0, 1) and high in (-1, 0)) or (high in (0, 1) and low in (-1, 0))


def _text_order(a: Any, b: Any) -> int | None:
    ta, tb = _text(a), _text(b)
    if ta is None or tb is None:
        return None
    return (ta > tb) - (ta < tb)


# --- Entry points ------------------------------------------------------------


def compare(
    operator: str, actual: Any, value: Any = None, value2: Any = None, values: Any = None
) -> bool:
    """Does `actual` match `operator` with these arguments? Never raises on data.

    Raises ValueError for an unknown operator code only.
    """
    func = OPERATORS.get(operator) if isinstance(operator, str) else None
    if func is None:
        raise ValueError(f"unknown operator {operator!r}")
    return func(actual, value, value2, values)


# --- Prepared: the constant side read once ----------------------------------


def prepare(
    operator: str, value: Any = None, value2: Any = None, values: Any = None
) -> Callable[[Any], bool]:
    """`compare` with its configured arguments bound and read once: `actual -> bool`.

    The engine tests a rule's conditions on every save that reaches the rule;
    reading the configured value as a number, a date and text once, when the
    rule index is compiled, rather than on every test, halves the cost of a
    test. It agrees with `compare` for every input (property-tested). Raises
    ValueError for an unknown operator code, like `compare`.
    """
    func = OPERATORS.get(operator) if isinstance(operator, str) else None
    if func is None:
        raise ValueError(f"unknown operator {operator!r}")
    maker = _PREPARED.get(operator)
    if maker is None:
        return lambda actual: func(actual, value, value2, values)
    return maker(value, values)


def _equal_to(value: Any) -> Callable[[Any], bool]:
    number = as_number(value)
    when = as_datetime(value) if number is None else None  # never both
    text = _text(value)

    def test(actual):
        if number is not None:
            a = as_number(actual)
            if a is not None:
                return a == number
        elif when is not None:
            a = as_datetime(actual)
            if a is not None:
                order = _date_order(a, when)
                if order is not None:
                    return order == 0
        return text is not None and _text(actual) == text

    return test


def _order_to(value: Any) -> Callable[[Any], int | None]:
    number = as_number(value)
    when = as_datetime(value) if number is None else None

    def order(actual):
        if number is not None:
            a = as_number(actual)
            return None if a is None else (a > number) - (a < number)
        if when is not None:
            a = as_datetime(actual)
            return None if a is None else _date_order(a, when)
        return None

    return order


def _prepared_within(value, values):
    tests = [_equal_to(candidate) for candidate in within_candidates(value, values)]
    return lambda actual: any(test(actual) for test in tests)


def _prepared_text(check):
    def maker(value, values):
        wanted = _text(value)
        if not wanted:
            return lambda actual: False
        return lambda actual: bool(a := _text(actual)) and check(a, wanted)

    return maker


def _prepared_order(outcomes):
    def maker(value, values):
        order = _order_to(value)
        return lambda actual: order(actual) in outcomes

    return maker


def _prepared_not_equals(value, values):
    test = _equal_to(value)
    return lambda actual: not test(actual)


_PREPARED = {
    Operator.EQUALS: lambda value, values: _equal_to(value),
    Operator.NOT_EQUALS: _prepared_not_equals,
    Operator.GREATER_THAN: _prepared_order((1,)),
    Operator.GREATER_THAN_OR_EQUAL: _prepared_order((0, 1)),
    Operator.LESS_THAN: _prepared_order((-1,)),
    Operator.LESS_THAN_OR_EQUAL: _prepared_order((-1, 0)),
    Operator.WITHIN: _prepared_within,
    Operator.STARTS_WITH: _prepared_text(str.startswith),
    Operator.CONTAINS: _prepared_text(lambda a, wanted: wanted in a),
}


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
