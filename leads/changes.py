"""What a lead save is about, beyond the lead: the call it records or redispositions.

leads.models sets it around the lead save (Call.record, Call.set_disposition);
leads.signals reads it to build the occurrence. A context, not an attribute
smuggled onto the lead.
"""

import contextvars
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class CallChange:
    """The call a lead save is about: recorded (Call.record) or dispositioned
    again after the fact (Call.set_disposition, `redisposed`)."""

    call: object  # leads.models.Call
    redisposed: bool = False
    previous_disposition: str | None = None


_call_change = contextvars.ContextVar("call_change", default=None)


@contextmanager
def about_call(call, redisposed=False, previous_disposition=None):
    """Lead saves inside this block are about `call` (leads.signals reads it)."""
    token = _call_change.set(CallChange(call, redisposed, previous_disposition))
    try:
        yield
    finally:
        _call_change.reset(token)


def call_change_for(lead):
    """The CallChange the current save of `lead` is about, or None."""
    change = _call_change.get()
    return change if change is not None and change.call.lead_id == lead.pk else None
