"""Hostile values and mutations for the fuzz suite (hypothesis strategies and helpers).

A mutation takes a valid JSON value (a workflow document, a request body) and
changes it the way an attacker or a buggy integration would: a value of the
wrong type at any path, a key deleted, an unknown key or code, a huge
string, NUL and lone surrogates, deep nesting, a list repeated many times.
Keys to add are drawn from the document *schema* (the fields each event and
action type declares), so wrong types reach keys the base document leaves out.

`to_json` writes the result; `Deep(n)` becomes n nested lists in the text
(Python's own encoder would recurse).
"""

import copy
import json
from dataclasses import dataclass
from urllib.parse import urlencode

from hypothesis import strategies as st

from automation.constants import Operator, Window
from automation.document import document
from automation.engine import events
from automation.execution.actions import EXECUTORS


@dataclass(frozen=True)
class Deep:
    """`depth` nested lists, written as text (5,000 levels would break json.dumps)."""

    depth: int
    inner: str = "1"


def to_json(value):
    """JSON text of `value`, Deep markers expanded, lone surrogates escaped."""
    if isinstance(value, Deep):
        return "[" * value.depth + value.inner + "]" * value.depth
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    return json.dumps(value)


CODES = [
    *events.EVENTS, *EXECUTORS, *Operator.values, *Window.values, "SALE", "NEW", "FOLLOW",
    "OUTBOUND", "INBOUND", "CALLER", "create", "campaign", "list", "within", "not_within",
    "final_status", "lead_filter", "fixed", "lead_field", "immediate", "WEATHER", "sale",
    "DISPOSITION ", "",
]  # fmt: skip

SCALARS = [
    None, True, False, 0, 1, -1, 100, 2**31, 2**63 - 1, 2**63, 2**70, -(2**70), 10**30, 1.5,
    -0.0, 1e308, "", " ", "x", "a\x00b", "\x00", "\ud800", "ok\udfff", "²", "٣", "1e999999",
    "9999-12-31", "0001-01-01", "9999-12-31T23:59:59-14:00", "2026-02-30", "<script>x</script>",
    "' OR 1=1 --", "%00", "{first_name}", "{{", "}", "{call.nope}", "NaN", "Infinity",
    "x" * 600, "é" * 300,
]  # fmt: skip

CONTAINERS = [
    [], {}, [None], [1, "a"], ["SALE", "NOPE"], [[]], {"a": 1}, {"type": []}, {"": None},
    ["\x00"], {"\x00": 1}, {"\ud800": "x"}, [{"type": {"a": 1}}],
]  # fmt: skip

huge_strings = st.sampled_from(["x" * 100_000, "\x00" * 1000, "a\ud800" * 5000])
deep = st.sampled_from([Deep(70), Deep(200), Deep(1100), Deep(5000)])

hostile_values = st.one_of(
    st.sampled_from(SCALARS),
    st.sampled_from(CONTAINERS).map(copy.deepcopy),  # never share (and grow) the pool
    st.sampled_from(CODES),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.text(
        alphabet=st.characters(codec=None, exclude_categories=()), min_size=0, max_size=20
    ),  # any code point, lone surrogates included
    huge_strings,
    deep,
)


def paths_of(value, here=()):
    """Every path (a tuple of keys/indexes) inside `value`, containers first."""
    found = [here]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths_of(child, (*here, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths_of(child, (*here, index))
    return found


def parent_of(value, path):
    for key in path[:-1]:
        value = value[key]
    return value


def schema_keys(doc, path):
    """Keys the schema allows in the container at `path` of a workflow document."""
    if path == ():
        return list(document.SETTINGS.fields)
    if path == ("schedule",):
        return list(document.SCHEDULE.fields)
    if len(path) == 3 and path[0] == "action_sets" and path[2] == "delay":
        return list(document.DELAY.fields)
    if len(path) == 2 and path[0] in ("events", "stop_filter"):
        container = parent_of(doc, (*path, None))
        spec = events.EVENTS.get(container.get("type")) if isinstance(container, dict) else None
        return ["type", "active", *(spec.schema.fields if spec else ["values", "value"])]
    if len(path) == 5 and path[-1] == "config":
        action = parent_of(doc, path)
        executor = EXECUTORS.get(action.get("type")) if isinstance(action, dict) else None
        return list(executor.schema.fields) if executor else ["x"]
    return ["delay", "window", "actions", "type", "config", "active", "unknown_key"]


@st.composite
def mutated(draw, base, keys=schema_keys, max_mutations=3):
    """`base` with 1 … max_mutations hostile changes."""
    value = copy.deepcopy(base)
    for _ in range(draw(st.integers(min_value=1, max_value=max_mutations))):
        paths = paths_of(value)
        path = draw(st.sampled_from(paths))
        kind = draw(st.sampled_from(["replace", "replace", "delete", "add", "code", "repeat"]))
        if path == ():
            if kind == "replace" or not isinstance(value, dict):
                value = draw(hostile_values)
                continue
            kind = "add"
        container = parent_of(value, path) if path else None
        target = value
        for key in path:
            target = target[key]
        if kind == "replace":
            container[path[-1]] = draw(hostile_values)
        elif kind == "delete" and isinstance(container, dict):
            del container[path[-1]]
        elif kind == "delete" and isinstance(container, list):
            container.pop(path[-1])
        elif kind == "add" and isinstance(target, dict):
            key = draw(st.sampled_from([*keys(value, path), "unknown", "\x00", "id"]))
            target[key] = draw(hostile_values)
        elif kind == "code":
            container[path[-1]] = draw(st.sampled_from(CODES))
        elif kind == "repeat" and isinstance(target, list) and target:
            target.extend(copy.deepcopy(target * draw(st.sampled_from([2, 10, 150]))))
        else:
            container[path[-1]] = draw(hostile_values)
    return value


# --- Query strings ----------------------------------------------------------------

QUERY_VALUES = [
    "", "1", "0", "-1", "²", "٣", "1.5", "1e5", "99999999999999999999999", "9223372036854775808",
    "a\x00b", "\x00", "%00", "\ud800", "true", "null", "SALE", "OUTBOUND", "pending", "9999-12-31",
    "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "0001-01-01", "2026-02-30",
    "2026-11-30T10:00:00Z", "-created_at", "id", "json", "api", "x" * 3000, "1,2,99999999999999999999",
    "' OR 1=1 --", "<x>",
]  # fmt: skip

query_values = st.one_of(
    st.sampled_from(QUERY_VALUES),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.text(
        alphabet=st.sampled_from("0123456789-:T+Z.²٣aZ\x00 ,%é\ud800"),
        max_size=25,
    ),
)

PAGING = ["limit", "offset", "cursor", "ordering", "format", "page", "search", "p", "o", "q", "e"]


def query_string(draw, names):
    """A query string of 1 … 4 parameters drawn from `names` (and a few more)."""
    count = draw(st.integers(min_value=1, max_value=4))
    name = st.sampled_from([*names, *PAGING, "\x00", "x²"])
    pairs = [(draw(name), draw(query_values)) for _ in range(count)]
    return pairs, urlencode(pairs, encoding="utf-8", errors="surrogatepass")
