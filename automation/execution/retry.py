"""The one retry policy of external actions: whether a failed attempt is tried
again, and when.

No response (network, DNS, timeout), a 5xx or a 429 is worth another attempt,
after 5 s, 10 s, 20 s … at most 15 minutes, or after what the server's
Retry-After asked for (429/503; seconds or an HTTP-date, at most an hour),
until the action's attempts are used up. Nothing sleeps: the runner puts the
entry back to pending for `retry_at`, and when it comes due it is checked
again like a first attempt.
"""

from datetime import UTC, timedelta
from email.utils import parsedate_to_datetime

BACKOFF_FIRST = timedelta(seconds=5)
BACKOFF_MAX = timedelta(minutes=15)
RETRY_AFTER_MAX = timedelta(hours=1)
TRANSIENT_REASONS = ("dns:", "refused:", "unreachable:", "timeout:", "connection:")
# Reasons stay short enough for the log column (500) with the runner's retry prefix.
REASON_MAX = 440


def transient(outcome):
    """Worth another attempt: no response (network, DNS, timeout), a 5xx or a 429."""
    if outcome.status_code is not None:
        return outcome.status_code == 429 or 500 <= outcome.status_code < 600
    return outcome.reason.startswith(TRANSIENT_REASONS)


def retry_after(outcome, now):
    """The wait a 429/503 asked for in Retry-After (seconds or HTTP-date), or None."""
    if outcome.status_code not in (429, 503):
        return None
    headers = (outcome.response or {}).get("headers") or {}
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if not value:
        return None
    value = str(value).strip()
    if value.isascii() and value.isdigit():  # "²".isdigit() too; and no overflow
        wait = timedelta(seconds=min(int(value[:12]), RETRY_AFTER_MAX.total_seconds()))
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        wait = when - now
    return min(max(wait, timedelta(0)), RETRY_AFTER_MAX)


def backoff(attempts):
    """The wait after failed attempt n: 5 s, 10 s, 20 s … at most 15 minutes."""
    return min(BACKOFF_FIRST * 2 ** min(attempts - 1, 16), BACKOFF_MAX)


def retry_at(outcome, attempts, max_attempts, now):
    """When to try an HTTP attempt (an `http.Outcome`) again, or None when it is final."""
    if outcome.ok or not transient(outcome) or attempts >= max_attempts:
        return None
    wait = retry_after(outcome, now)
    return now + (backoff(attempts) if wait is None else wait)


def later(attempts, max_attempts, now):
    """When to try again after a transient failure that is no HTTP outcome (an SMTP
    server away), or None once the attempts are used up."""
    return None if attempts >= max_attempts else now + backoff(attempts)
