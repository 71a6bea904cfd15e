"""What the send-time guard reads, fetched at the edge for a batch of entries.

automation.engine.guard is pure; this module reads what it needs — the leads'
campaigns, DNC hits, active calling rules, contact policies and the budget
counts, live calls — in a handful of queries per batch (none for what no
entry of the batch needs), and builds each entry's guard.EntrySnapshot. The
runner (first attempt and every retry) and the dry run both build their
snapshots here, so they cannot read the facts differently.

Race-freedom of the contact budget: the runner calls `Facts` with the rows of
the leads concerned locked (`SELECT … FOR UPDATE`, the lock internal actions
already take; on SQLite the immediate transaction's write lock), in the same
transaction that claims the entry. A second worker checking an entry of the
same lead waits for that transaction, and then counts the first entry: as
succeeded (internal actions commit their effect with the claim) or as in
flight (an external one being sent: state `running`).
"""

from datetime import timedelta

from django.conf import settings
from django.db.models import Q

from automation.constants import OUTREACH_CHANNELS, EntryState
from automation.engine import compiled, gates, guard, rules, timing


def live_call_max_age():
    return timedelta(seconds=settings.LIVE_CALL_MAX_AGE)


def channel_of(action_type):
    return OUTREACH_CHANNELS.get(action_type)


def channel_types(channel):
    return [t for t, c in OUTREACH_CHANNELS.items() if c == channel]


class Facts:
    """The guard's reads for `leads` ({id: Lead}) at `now`.

    `outreach`: {lead id: set of channels} the batch's outreach entries need;
    `asking_live`: ids of leads whose entries Skip If Live Call.
    """

    def __init__(self, leads, now, outreach=None, asking_live=()):
        from automation.models import CallingRule, ContactPolicy, LogEntry
        from leads.models import Call, DncEntry, Lead, List

        self.now = now
        outreach = {pk: chans for pk, chans in (outreach or {}).items() if pk in leads and chans}
        self.campaigns, self.dnc, self.rules, self.policies = {}, {}, (), {}
        self.sent, self.in_flight, self.live = {}, {}, {}
        if asking_live:
            for lead_id, started in Call.objects.filter(
                lead_id__in=set(asking_live), ended_at__isnull=True
            ).values_list("lead_id", "started_at"):
                self.live.setdefault(lead_id, []).append(started)
        if not outreach:
            return
        targets = {pk: leads[pk] for pk in outreach}
        # The runner loads leads with their list (one join): no query for campaigns then.
        unknown = {lead.list_id for lead in targets.values() if not Lead.list.is_cached(lead)}
        list_campaign = (
            dict(List.objects.filter(pk__in=unknown).values_list("pk", "campaign_id"))
            if unknown
            else {}
        )
        self.campaigns = {
            pk: lead.list.campaign_id
            if Lead.list.is_cached(lead)
            else list_campaign.get(lead.list_id)
            for pk, lead in targets.items()
        }
        self._read_dnc(DncEntry, targets)
        self.rules = tuple(
            rule.as_rule()
            for rule in CallingRule.objects.filter(active=True).filter(
                Q(state__in={guard.state_code(lead.state) for lead in targets.values()} - {""})
                | Q(timezone__in={lead.zone_name for lead in targets.values()})
            )
        )
        self.policies = {
            (p.campaign_id, p.channel): p.as_policy()
            for p in ContactPolicy.objects.select_related("campaign").filter(
                Q(campaign__isnull=True) | Q(campaign_id__in=set(self.campaigns.values()))
            )
        }
        counted = {
            pk: {c for c in chans if self.policy(pk, c) is not None}
            for pk, chans in outreach.items()
        }
        types = {t for chans in counted.values() for c in chans for t in channel_types(c)}
        if types:
            rows = (
                LogEntry.objects.filter(lead_id__in=[pk for pk, c in counted.items() if c])
                .filter(action_type__in=sorted(types))
                .filter(
                    Q(state=EntryState.SUCCEEDED, finished_at__gt=now - guard.WEEK)
                    | Q(state=EntryState.RUNNING)
                )
                .values_list("lead_id", "action_type", "state", "finished_at")
            )
            for lead_id, action_type, state, finished_at in rows:
                key = (lead_id, channel_of(action_type))
                if state == EntryState.RUNNING:
                    self.in_flight[key] = self.in_flight.get(key, 0) + 1
                else:
                    self.sent.setdefault(key, []).append(finished_at)

    def _read_dnc(self, DncEntry, targets):
        phones = {lead.phone_number for lead in targets.values() if lead.phone_number}
        emails = {lead.email.strip().lower() for lead in targets.values() if lead.email}
        campaigns = set(self.campaigns.values()) - {None}
        found = {}
        if phones or emails:
            rows = (
                DncEntry.objects.filter(Q(phone_number__in=phones) | Q(email__in=emails))
                .filter(Q(campaign__isnull=True) | Q(campaign_id__in=campaigns))
                .order_by("campaign_id")
                .values_list("phone_number", "email", "campaign_id", "campaign__name")
            )
            for phone, email, campaign_id, campaign_name in rows:
                found.setdefault((phone or email, campaign_id), campaign_name)
        for pk, lead in targets.items():
            campaign_id = self.campaigns.get(pk)
            for kind, value in (
                ("phone", lead.phone_number),
                ("email", lead.email.strip().lower()),
            ):
                if not value:
                    continue
                if (value, None) in found:
                    self.dnc[(pk, kind)] = f"{value} is on the global DNC list"
                elif campaign_id is not None and (value, campaign_id) in found:
                    name = found[(value, campaign_id)]
                    self.dnc[(pk, kind)] = f'{value} is on the DNC list of campaign "{name}"'

    def policy(self, lead_id, channel):
        campaign_id = self.campaigns.get(lead_id)
        return self.policies.get((campaign_id, channel)) or self.policies.get((None, channel))

    def budget(self, lead_id, channel):
        policy = self.policy(lead_id, channel)
        if policy is None:
            return None
        key = (lead_id, channel)
        return guard.Budget(policy, tuple(self.sent.get(key, ())), self.in_flight.get(key, 0))

    def record_sent(self, lead_id, action_type, at):
        """An outreach entry of this batch succeeded: later ones of the batch count it."""
        channel = channel_of(action_type)
        if channel is not None:
            self.sent.setdefault((lead_id, channel), []).append(at)


def schedule_of(workflow):
    if not workflow.schedule_enabled:
        return None
    return timing.Schedule(workflow.schedule_window, tuple(workflow.schedule_days or ()))


def snapshot(*, action_type, executor, workflow, action, lead, context, now, facts):
    """The guard.EntrySnapshot of one entry (or, for the dry run, of one action)."""
    stopped_now = False
    if lead is not None and action is not None:
        index = rules.current()
        stopped_now = compiled.stop_condition_met(
            workflow.stop_if,
            workflow.stop_filter,
            lead,
            index.status_flags,
            kinds=index.field_kinds,
        )
    channel = channel_of(action_type)
    if lead is not None:
        zone_name = lead.zone_name
    else:
        zone_name = (context.get("snapshot") or {}).get("timezone") or settings.TIME_ZONE
    skip_live = bool(action and action.skip_if_live_call)
    lead_id = lead.pk if lead is not None else None
    dnc_kind = "email" if channel == "email" else "phone"
    return guard.EntrySnapshot(
        action_type=action_type,
        known_type=executor is not None,
        workflow_active=workflow.active and not workflow.archived,
        action_present=action is not None,
        action_active=bool(action and action.active),
        lead_present=lead is not None,
        runs_without_lead=bool(executor and not executor.needs_lead and context.get("snapshot")),
        stopped_now=stopped_now,
        stopped_at_trigger=bool(context.get("stopped_at_trigger")),
        stop_reason=gates.stop_label(workflow.stop_if),
        skip_if_live_call=skip_live,
        live_calls=tuple(facts.live.get(lead_id, ())) if skip_live else (),
        now=now,
        live_call_max_age=live_call_max_age(),
        zone_name=zone_name,
        window=action.action_set.window if action is not None else "24hr",
        schedule=schedule_of(workflow),
        channel=channel,
        lead_state=lead.state if lead is not None else "",
        dnc=facts.dnc.get((lead_id, dnc_kind)) if channel else None,
        calling_rules=facts.rules if channel else (),
        budget=facts.budget(lead_id, channel) if channel and lead is not None else None,
    )
