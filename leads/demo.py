"""The demo's own activity: a dialer recording calls, run by django-q2.

`manage.py load_demo` schedules `record_calls` every minute (a django-q2
Schedule named "Demo activity") and queues one run at once, so the demo's
workflows fire within seconds of `make run` starting its cluster.
"""

import uuid
from datetime import timedelta

from django.utils import timezone

from leads.models import Call, CallType, Lead, TermReason

# One call of each kind a demo workflow answers: a sale (INTEGRATION to the
# demo receiver), a do-not-call request (DNC list), a no-answer (back in the
# hopper after a delay, inside the calling window).
DISPOSITIONS = ("SALE", "DNC", "NA")
REACHED = {"SALE", "DNC"}


def record_calls(now=None):
    """Record one call per disposition of DISPOSITIONS, each to a demo lead still in play.

    Returns the ids of the calls recorded (fewer when the leads run out).
    """
    now = now or timezone.now()
    leads = list(
        Lead.objects.filter(status__final=False)
        .select_related("list")
        .order_by("?")[: len(DISPOSITIONS)]
    )
    recorded = []
    for lead, code in zip(leads, DISPOSITIONS, strict=False):
        length = 240 if code in REACHED else 25
        started = now - timedelta(seconds=length)
        call, _ = Call.record(
            lead=lead,
            call_type=CallType.OUTBOUND,
            started_at=started,
            ended_at=now,
            length=length,
            disposition_id=code,
            term_reason=TermReason.AGENT if code in REACHED else TermReason.SYSTEM,
            external_id=f"demo-live-{uuid.uuid4().hex}",
        )
        recorded.append(call.pk)
    return recorded
