"""The lead fields that conditions, FIELD actions and placeholders may name.

Plain names, so that what reads them (leads.placeholders, the engine) need not
import the models.
"""

CONDITION_FIELDS = (
    "id", "list", "status", "first_name", "last_name", "phone_number", "alt_phone",
    "email", "address1", "address2", "city", "state", "postal_code", "country",
    "timezone", "called_count", "last_called_at", "owner", "submitted_by",
    "created_at", "modified_at",
)  # fmt: skip
# The triggering call's fields, as `call.<name>` in conditions, adaptors and placeholders.
CALL_FIELDS = (
    "id", "call_type", "started_at", "ended_at", "length", "disposition", "disposition_name",
    "term_reason", "revenue", "external_id", "agent", "campaign", "list", "queue",
    "inbound_number",
)  # fmt: skip
WRITABLE_FIELDS = (
    "first_name", "last_name", "alt_phone", "email", "address1", "address2", "city",
    "state", "postal_code", "country", "called_count", "last_called_at", "submitted_by",
)  # fmt: skip
