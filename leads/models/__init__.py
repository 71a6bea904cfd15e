"""The CRM domain (SPEC §3): what workflows react to and act on."""

from leads.models.calls import (  # noqa: F401
    Call,
    Callback,
    CallbackRecipient,
    CallbackState,
    CallType,
    HopperEntry,
    HopperState,
    TermReason,
)
from leads.models.custom import (  # noqa: F401
    CustomField,
    CustomFieldType,
    check_placeholders,
    custom_field_errors,
    declared_types,
    unknown_field,
)
from leads.models.dnc import DncEntry  # noqa: F401
from leads.models.leads import Lead, Source, snapshot  # noqa: F401
from leads.models.reference import (  # noqa: F401
    Campaign,
    EmailTemplate,
    InboundNumber,
    InboundNumberManager,
    List,
    Queue,
    Status,
    validate_phone,
    validate_zone,
)
