"""The demo's own webhook target: `/demo/receiver/` acknowledges what it is sent.

The demo's INTEGRATION workflow posts its sales here (allowed through
INTEGRATION_ALLOWED_URLS, the private-network refusal staying on for every
other URL), so a newcomer sees webhooks succeed without a server of their own.
It answers only with `DEMO_RECEIVER` on (`make run` turns it on): a production
install has no such page (404).
"""

import logging

from django.conf import settings
from django.http import Http404, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

logger = logging.getLogger(__name__)
LOGGED_CHARS = 500


@csrf_exempt  # a webhook target: the sender has no session, hence no CSRF token
def receiver(request):
    """Log the request and answer `{"ok": true, ...}`, as a partner CRM would."""
    if not settings.DEMO_RECEIVER:
        raise Http404("the demo receiver is off (DEMO_RECEIVER)")
    body = request.body
    logger.info(
        "demo receiver: %s %s, %d bytes: %s",
        request.method,
        request.get_full_path(),
        len(body),
        body[:LOGGED_CHARS].decode("utf-8", errors="replace"),
    )
    return JsonResponse(
        {
            "ok": True,
            "method": request.method,
            "received_bytes": len(body),
            "received_at": timezone.now().isoformat(),
        }
    )
