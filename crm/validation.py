"""The validation boundary: how every value from outside is read.

Every key of the workflow document, every API query parameter, every admin
filter and every custom admin view reads its input with these helpers, so a
hostile value becomes a clear error naming the parameter (a 400 in the API, a
form error or "no results" in the admin), never a database error:

- `parse_id`: a database id, ASCII digits only (`"²".isdigit()` is True and
  `int("٣")` is 3: neither is an id), within the BigAutoField range;
- `parse_date` / `check_datetime`: dates and datetimes far enough from the
  calendar's ends that adding a day or moving to UTC cannot overflow;
- `check_text`: no NUL (PostgreSQL refuses it in text and jsonb) and no lone
  surrogate (it cannot be encoded as UTF-8);
- `parse_code`: one of a field's choices;
- `check_json`: a parsed JSON value within the depth limit, with no bad text
  in its keys or strings; `json_depth_exceeds` checks raw JSON text before it
  is parsed at all (Python's parser recurses: ~1,000 levels is a RecursionError).

Each raises `Invalid` (a ValueError) whose `path` names the bad value.
"""

import re
from datetime import UTC, date, datetime, time

# BigAutoField: the largest id any table can hold.
MAX_ID = 2**63 - 1
# A day short of each end of the calendar: `end + 1 day` and a move to UTC stay in range.
MIN_DATE = date(1, 1, 2)
MAX_DATE = date(9999, 12, 30)
# How deep a JSON body or workflow document may nest (the document itself needs ~6).
MAX_JSON_DEPTH = 64
# How many items a JSON list may hold (events, actions, ids to flush …) where a caller caps it.
MAX_LIST_ITEMS = 1000

ASCII_INT = re.compile(r"[+-]?[0-9]+\Z")
BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


class Invalid(ValueError):
    """A value from outside that cannot be used. `path`: the parameter or document path."""

    def __init__(self, path, message):
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


def text_problem(value):
    """'' when `value` is text PostgreSQL and UTF-8 accept, else what is wrong with it."""
    match = BAD_TEXT.search(value)
    if match is None:
        return ""
    if match.group() == "\x00":
        return "contains a NUL character"
    return "contains a lone surrogate (not valid Unicode text)"


def check_text(value, path=""):
    """`value` (a str) unchanged, or Invalid if it holds a NUL or a lone surrogate."""
    if problem := text_problem(value):
        raise Invalid(path, problem)
    return value


def parse_int(value, path="", minimum=-MAX_ID - 1, maximum=MAX_ID):
    """A whole number written in ASCII digits (an int is taken as it is), within range."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise Invalid(path, f"must be a whole number, not {value!r}")
    if isinstance(value, str):
        text = value.strip()
        if not ASCII_INT.match(text) or len(text) > 25:
            raise Invalid(path, f"must be a whole number, not {value[:40]!r}")
        value = int(text)
    if value < minimum:
        raise Invalid(path, f"must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise Invalid(path, f"must be at most {maximum}")
    return value


def parse_id(value, path="id"):
    """A database id: ASCII digits, 1 … MAX_ID."""
    try:
        return parse_int(value, path, minimum=1)
    except Invalid:
        raise Invalid(
            path, f"must be an id (a whole number from 1), not {str(value)[:40]!r}"
        ) from None


def check_date(value, path="date"):
    if not MIN_DATE <= value <= MAX_DATE:
        raise Invalid(path, f"must be between {MIN_DATE} and {MAX_DATE}")
    return value


def parse_date(value, path="date"):
    """A YYYY-MM-DD date within MIN_DATE … MAX_DATE."""
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value.strip()):
        raise Invalid(path, f"must be a date (YYYY-MM-DD), not {str(value)[:40]!r}")
    try:
        parsed = date.fromisoformat(value.strip())
    except ValueError:
        raise Invalid(path, f"is not a real date: {value.strip()!r}") from None
    return check_date(parsed, path)


def check_datetime(value, path="datetime"):
    """`value` unchanged if it (and it in UTC) falls within MIN_DATE … MAX_DATE."""
    try:
        in_utc = value.astimezone(UTC) if value.tzinfo else value
    except OverflowError:
        raise Invalid(path, f"must be between {MIN_DATE} and {MAX_DATE}") from None
    check_date(value.date(), path)
    check_date(in_utc.date(), path)
    return value


def day_start(day, zone):
    """The first moment of `day` in `zone` (day already within range)."""
    return datetime.combine(day, time.min, zone)


def parse_code(value, choices, path="code"):
    """One of `choices` (a TextChoices or (code, label) pairs)."""
    codes = [c for c, _ in getattr(choices, "choices", choices)]
    if not isinstance(value, str) or value not in codes:
        raise Invalid(path, f"must be one of {', '.join(codes)}, not {shown(value)}")
    return value


def shown(value):
    """A bad value in an error message: short text, or its JSON type for anything else."""
    if isinstance(value, str):
        return repr(value[:60] + ("…" if len(value) > 60 else ""))
    if isinstance(value, bool) or value is None:
        return "true" if value is True else "false" if value is False else "null"
    if isinstance(value, int | float):
        return repr(value) if abs(value) < 10**15 else "a very large number"
    return {dict: "an object", list: "a list"}.get(type(value), type(value).__name__)


def join_path(path, key):
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def json_problems(value, path="", max_depth=MAX_JSON_DEPTH, limit=20):
    """{path: problem} for a parsed JSON value: too deep, bad text in a key or string.

    Iterative (a hostile document cannot exhaust the stack); stops after `limit`.
    """
    problems = {}
    stack = [(value, path, 0)]
    while stack and len(problems) < limit:
        item, here, depth = stack.pop()
        if isinstance(item, str):
            if problem := text_problem(item):
                problems[here or "body"] = problem
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                problems[here or "body"] = f"nests deeper than {max_depth} levels"
                continue
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            children = []
            for key, child in pairs:
                if isinstance(key, str) and (problem := text_problem(key)):
                    problems[join_path(here, "?")] = f"a key {problem}"
                    continue
                children.append((child, join_path(here, key), depth + 1))
            stack.extend(reversed(children))
    return problems


def check_json(value, path="", max_depth=MAX_JSON_DEPTH):
    """`value` unchanged, or Invalid for its first problem (see `json_problems`)."""
    problems = json_problems(value, path, max_depth, limit=1)
    if problems:
        (where, problem), *_ = problems.items()
        raise Invalid(where, problem)
    return value


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_EMPTY_PAIR = re.compile(r"\[\]|\{\}")


def json_depth_exceeds(text, max_depth=MAX_JSON_DEPTH):
    """Does raw JSON `text` nest deeper than `max_depth`? (Checked before parsing.)

    Strings are removed, then innermost bracket pairs peeled off once per level:
    a few passes of C-speed regex for any sane document.
    """
    skeleton = _NOT_BRACKET.sub("", _STRING.sub("", text))
    for _ in range(max_depth):
        if not skeleton:
            return False
        peeled = _EMPTY_PAIR.sub("", skeleton)
        if peeled == skeleton:
            return _max_depth(skeleton) > max_depth  # unbalanced: count, rather than peel
        skeleton = peeled
    return bool(skeleton)


def _max_depth(brackets):
    depth = deepest = 0
    for char in brackets:
        depth += 1 if char in "[{" else -1
        deepest = max(deepest, depth)
    return deepest
