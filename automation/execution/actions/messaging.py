"""Executors that message the lead: EMAIL (Django's email backend), SMS and VB (providers).

They reach the outside world, so they run with no transaction open and may
run again after a crash (at least once): each message carries the entry's
stable idempotency key (an `Idempotency-Key` header, and the e-mail's
Message-ID) so a receiver can drop a repeat.
"""

import smtplib

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.utils import DNS_NAME

from automation.constants import ActionType, EntryState
from automation.document.schema import Ref, Schema, Text
from automation.execution import providers, retry
from automation.execution.actions.base import Executor, Result, Run, referred
from crm.masking import Masker
from leads import placeholders
from leads.models import EmailTemplate, check_placeholders

# SMTP trouble that may pass: attempts in all, and the wait after attempt n.
EMAIL_MAX_ATTEMPTS = 3
# SMS and VB gateways: attempts in all (the waits are those of INTEGRATION).
GATEWAY_MAX_ATTEMPTS = 3


def transient_smtp_error(exc):
    """Is this a failure worth another attempt later (connection trouble, a 4xx reply)?"""
    if isinstance(exc, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError):
        return True
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPException):
        return False  # refused recipients or sender, authentication, unsupported command
    return isinstance(exc, OSError)  # refused, unreachable, timed out, reset


class Email(Executor):
    """Render an Email Template for the lead and send it.

    1. No e-mail address: skipped.
    2. Render subject and body from the lead, the triggering call and the
       workflow (leads.placeholders: no code runs).
    3. Send through Django's email backend; connection trouble is retried
       later (up to EMAIL_MAX_ATTEMPTS), any other error fails the action.
    """

    type = ActionType.EMAIL
    internal = False
    schema = Schema({"template": Ref("leads.EmailTemplate")})

    def execute(self, run: Run) -> Result:
        template = referred(EmailTemplate, run.config["template"], "email template")
        if isinstance(template, Result):
            return template
        name = template.name
        lead = run.lead
        if not lead.email:
            return Result.skipped("the lead has no email address", template=name)
        values = placeholders.lead_values(lead, run.call, run.workflow)
        # A subject is one header line: line breaks in lead data must not end it.
        subject = " ".join(placeholders.render(template.subject, values).split())
        body = placeholders.render(template.body, values)
        key = str(run.entry.idempotency_key)
        message = EmailMessage(
            subject,
            body,
            to=[lead.email],
            headers={"Idempotency-Key": key, "Message-ID": f"<{key}@{DNS_NAME}>"},
        )
        sent = {"template": name, "to": lead.email, "subject": subject, "idempotency_key": key}
        try:
            message.send()
        except Exception as exc:  # any backend error is this action's failure, not a crash
            # Bounded: the runner prefixes retry reasons and the column holds 500.
            reason = f"sending failed: {type(exc).__name__}: {exc}"[: retry.REASON_MAX]
            when = None
            if transient_smtp_error(exc):
                when = retry.later(run.entry.attempts, EMAIL_MAX_ATTEMPTS, run.now)
            return Result.failed(reason, retry_at=when, **sent)
        return Result.ok(**sent)


class ProviderMessage(Executor):
    """Render the message for the lead and hand it to the SMS or VB provider.

    1. Render the text (leads.placeholders); an empty text is skipped.
    2. No provider configured: skipped ("no SMS provider configured"), the
       rendered text in the result.
    3. Send it to the lead's phone number through `automation.execution.providers`.
    4. A gateway's transient failure (no response, 5xx, 429) is retried later,
       up to GATEWAY_MAX_ATTEMPTS; the request and response are logged.
    """

    internal = False
    kind = ""

    def execute(self, run: Run) -> Result:
        lead = run.lead
        values = placeholders.lead_values(lead, run.call, run.workflow)
        text = placeholders.render(run.config["message"], values).strip()
        if not text:
            return Result.skipped("the message is empty for this lead")
        provider = providers.get_provider(self.kind)
        if provider is None:
            # Nothing is sent: never "succeeded". The log shows what would have gone out.
            return Result.skipped(
                providers.not_configured(self.kind),
                to=lead.phone_number,
                **{providers.TEXT_KEYS[self.kind]: text},
            )
        key = str(run.entry.idempotency_key)
        delivery = provider.send(lead.phone_number, text, lead_id=lead.pk, idempotency_key=key)
        # The log carries its own "reason" key: build the Results directly.
        logged = delivery.as_log()
        if delivery.ok:
            return Result(EntryState.SUCCEEDED, "", logged)
        reason = f"{provider.name} provider: {delivery.reason}"[: retry.REASON_MAX]
        when = None
        if delivery.outcome is not None:
            when = retry.retry_at(
                delivery.outcome, run.entry.attempts, GATEWAY_MAX_ATTEMPTS, run.now
            )
        return Result(EntryState.FAILED, reason, logged, when)

    def masker(self, entry):
        # A gateway URL may carry credentials (https://user:pass@gateway/…).
        return Masker.of(url=getattr(settings, providers.URL_SETTINGS[self.kind], ""))


class Sms(ProviderMessage):
    type = ActionType.SMS
    kind = "sms"
    schema = Schema({"message": Text(max_length=1600, check=check_placeholders)})


class VoiceBroadcast(ProviderMessage):
    type = ActionType.VB
    kind = "vb"
    schema = Schema({"message": Text(max_length=5000, check=check_placeholders)})
