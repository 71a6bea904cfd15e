"""How the rule index files a rule so that a save finds it by a lookup.

Within a (fact, scope) bucket, a rule with a Lead Fields condition on a lead
or custom field that an index can answer is filed by it instead of being
evaluated on every save (`index_key`): `equals`/`within` under the constant's
value (as `equals` compares it), found by one dict lookup; `starts_with`
under its text, found by looking up the prefixes of the lead's value;
greater/less than (or equal to) a number in a sorted list of bounds, found
by bisection. The index only narrows: every rule it returns is still
evaluated in full.
"""

import bisect
from dataclasses import dataclass, field

from automation.constants import Operator
from automation.engine import conditions
from automation.engine.occurrences import field_value


def constant_keys(value):
    """Index keys of a condition's constant, or None when it cannot be indexed (dates)."""
    number = conditions.as_number(value)
    if number is not None:
        return {("n", number)}
    if conditions.as_datetime(value) is not None:
        return None  # dates compare by day or by instant: evaluate those rules in full
    text = conditions.as_text(value)
    return None if text is None else {("t", text)}


def actual_keys(value):
    """Every key under which a rule whose `equals` would match `value` can be filed."""
    keys = []
    number = conditions.as_number(value)
    if number is not None:
        keys.append(("n", number))
    text = conditions.as_text(value)
    if text is not None:
        keys.append(("t", text))
    return keys


# How a bucket finds a rule by one of its Lead Fields conditions, most selective first:
# VALUE: equals/within, under each constant's key; PREFIX: starts_with, under its text;
# ABOVE / BELOW: greater/less than (or equal to) a number, in a sorted list of bounds.
VALUE, PREFIX, ABOVE, BELOW = "value", "prefix", "above", "below"
KIND_RANK = {VALUE: 0, PREFIX: 1, ABOVE: 2, BELOW: 2}
BOUNDS = {
    Operator.GREATER_THAN: (ABOVE, False),
    Operator.GREATER_THAN_OR_EQUAL: (ABOVE, True),
    Operator.LESS_THAN: (BELOW, False),
    Operator.LESS_THAN_OR_EQUAL: (BELOW, True),
}


def value_keys(config):
    """The VALUE keys of an equals/within condition, or None."""
    if config["operator"] == Operator.EQUALS:
        values = [config.get("value")]
    else:
        values = conditions.within_candidates(config.get("value"), config.get("values"))
        if not values:
            return None
    keys = set()
    for value in values:
        found = constant_keys(value)
        if found is None:
            return None
        keys |= found
    return frozenset(keys) or None


def index_key(condition):
    """(kind, field, key) filing a rule by this condition, or None (evaluated in full).

    Only lead and custom fields: call data is absent from most occurrences.
    Each key is exact for its operator (tests/automation/test_rule_index_values.py):
    a value the condition matches is always found under it.
    """
    config = condition.config
    if condition.type != "LEAD_FIELDS" or config["field"].startswith("call."):
        return None
    operator, name = config["operator"], config["field"]
    if operator in (Operator.EQUALS, Operator.WITHIN):
        keys = value_keys(config)
        return None if keys is None else (VALUE, name, keys)
    if operator == Operator.STARTS_WITH:
        text = conditions.as_text(config.get("value"))
        return (PREFIX, name, text) if text else None
    if operator in BOUNDS:
        # A number only: against one, a condition matches numbers only (dates: in full).
        number = conditions.as_number(config.get("value"))
        kind, inclusive = BOUNDS[operator]
        return None if number is None else (kind, name, (number, inclusive))
    return None


def discriminator(conds):
    """The most selective index key among the rule's conditions (the first of a kind)."""
    best = None
    for c in conds:
        found = index_key(c)
        if found is not None and (best is None or KIND_RANK[found[0]] < KIND_RANK[best[0]]):
            best = found
    return best


class Bounds:
    """Rules filed by `field > n` (ABOVE) or `field < n` (BELOW), `or equal` when inclusive.

    Sorted by n once the index is built (`seal`), a lookup is a bisection.
    """

    def __init__(self, kind):
        self.kind = kind
        self.entries = []  # (n, inclusive, rule)
        self.numbers = []

    def add(self, key, rule):
        self.entries.append((*key, rule))

    def seal(self):
        self.entries.sort(key=lambda entry: entry[0])
        self.numbers = [entry[0] for entry in self.entries]

    def matching(self, number):
        """The rules whose bound `number` satisfies."""
        low = bisect.bisect_left(self.numbers, number)
        high = bisect.bisect_right(self.numbers, number, low)
        strict = self.entries[:low] if self.kind == ABOVE else self.entries[high:]
        for _, _, rule in strict:
            yield rule
        for _, inclusive, rule in self.entries[low:high]:
            if inclusive:
                yield rule


@dataclass
class Bucket:
    """The rules of one (fact, scope): in full, or filed by a field (see `index_key`)."""

    general: list = field(default_factory=list)
    by_value: dict = field(default_factory=dict)  # field -> {key: [Rule]}
    by_prefix: dict = field(default_factory=dict)  # field -> {text: [Rule]}
    longest_prefix: dict = field(default_factory=dict)  # field -> the longest text filed
    by_bound: dict = field(default_factory=dict)  # (field, ABOVE/BELOW) -> Bounds

    members: list = field(default_factory=list)  # every rule filed here, to rebuild it

    def add(self, rule):
        self.members.append(rule)
        if rule.discriminator is None:
            self.general.append(rule)
            return
        kind, name, key = rule.discriminator
        if kind == VALUE:
            table = self.by_value.setdefault(name, {})
            for one in key:
                table.setdefault(one, []).append(rule)
        elif kind == PREFIX:
            self.by_prefix.setdefault(name, {}).setdefault(key, []).append(rule)
            self.longest_prefix[name] = max(self.longest_prefix.get(name, 0), len(key))
        else:
            self.by_bound.setdefault((name, kind), Bounds(kind)).add(key, rule)

    def seal(self):
        for bounds in self.by_bound.values():
            bounds.seal()

    def rules_for(self, occ, lead):
        yield from self.general
        for name, table in self.by_value.items():
            for key in actual_keys(field_value(lead, name, occ.call)):
                yield from table.get(key, ())
        for name, table in self.by_prefix.items():
            text = conditions.as_text(field_value(lead, name, occ.call))
            for end in range(1, min(len(text or ""), self.longest_prefix[name]) + 1):
                yield from table.get(text[:end], ())
        for (name, _), bounds in self.by_bound.items():
            number = conditions.as_number(field_value(lead, name, occ.call))
            if number is not None:
                yield from bounds.matching(number)
