"""Load a small, deterministic call center to click around in, and set it working.

Idempotent: every object has a natural key (a name, a status code, a lead's
phone number, a call's external id, a workflow's name) and is created only
when missing, so `make run` can load it on every start and an operator's
edits survive. Leads and calls go in as a bulk import: no workflow fires for
demo history.

Then the demo's activity (unless --no-activity): three active workflows
(a sale posted to the app's own demo receiver, a do-not-call request put on
the DNC list, a no-answer put back in the hopper two minutes later inside the
8-9 calling window) and a django-q2 schedule recording a call of each kind
every minute (leads.demo.record_calls), the first run queued at once.
"""

import random
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

from automation.constants import VersionSource
from automation.document import document
from automation.models import Adaptor, Endpoint, Workflow
from leads import phones
from leads.models import (
    Call,
    Callback,
    CallType,
    Campaign,
    CustomField,
    DncEntry,
    EmailTemplate,
    HopperEntry,
    InboundNumber,
    Lead,
    List,
    Queue,
    Source,
    Status,
    TermReason,
)

STATUSES = [
    # code, name, flags
    ("NEW", "New lead", {}),
    ("NA", "No answer", {}),
    ("B", "Busy", {}),
    ("A", "Answering machine", {"voicemail": True}),
    ("DROP", "Dropped", {}),
    ("CALLBK", "Callback requested", {"reached": True, "contact": True, "callback": True}),
    ("NI", "Not interested", {"reached": True, "contact": True, "final": True}),
    ("SALE", "Sale", {"reached": True, "contact": True, "sale": True, "final": True}),
    ("DNC", "Do not call", {"reached": True, "dnc": True, "final": True}),
    ("WN", "Wrong number", {"final": True}),
    ("FOLLOW", "Follow up", {"reached": True, "contact": True}),
]

# campaign → its lists
CAMPAIGNS = {
    "Solar Q4": ["Solar West", "Solar East"],
    "Insurance": ["Insurance TX", "Insurance FL"],
    "Home Security": ["Security Web Leads"],
}
# queue → campaign (None: shared)
QUEUES = {"Sales Inbound": "Solar Q4", "Customer Service": "Insurance", "Spanish": None}
INBOUND_NUMBERS = [
    ("+12125550150", "Sales Inbound", "Solar ads, East coast"),
    ("+13125550150", "Customer Service", "Insurance policy holders"),
    ("+12135550150", "Spanish", "Línea en español"),
]
# The custom fields the demo leads carry, declared (SPEC C.2): name, label, type, choices.
CUSTOM_FIELDS = [
    ("monthly_bill", "Monthly electricity bill ($)", "number", []),
    ("roof_type", "Roof type", "choice", ["shingle", "tile", "metal", "flat"]),
    ("policy_type", "Policy type", "choice", ["auto", "home", "life"]),
    ("current_carrier", "Current carrier", "text", []),
    ("home_owner", "Home owner", "boolean", []),
]
EMAIL_TEMPLATES = [
    (
        "Welcome",
        "Welcome, {first_name}!",
        "Hi {first_name},\n\nThanks for your interest in {campaign}. One of our "
        "advisors will call you at {phone_number}.\n\nTalk soon!",
    ),
    (
        "Quote follow-up",
        "{first_name}, your quote is ready",
        "Hi {first_name} {last_name},\n\nAs discussed on {call.started_at}, here is "
        "your quote. Reply to this email or call us back; we are open 9–5 {timezone}.",
    ),
]
# area code, city, state, ZIP, zone: several zones, Phoenix without DST, Alaska, Hawaii.
# The zone is the city's: phonenumbers lists 907's zones alphabetically (Adak first).
AREAS = [
    ("212", "New York", "NY", "10001", "America/New_York"),
    ("305", "Miami", "FL", "33101", "America/New_York"),
    ("404", "Atlanta", "GA", "30303", "America/New_York"),
    ("617", "Boston", "MA", "02108", "America/New_York"),
    ("312", "Chicago", "IL", "60601", "America/Chicago"),
    ("214", "Dallas", "TX", "75201", "America/Chicago"),
    ("713", "Houston", "TX", "77002", "America/Chicago"),
    ("303", "Denver", "CO", "80202", "America/Denver"),
    ("602", "Phoenix", "AZ", "85004", "America/Phoenix"),
    ("213", "Los Angeles", "CA", "90012", "America/Los_Angeles"),
    ("415", "San Francisco", "CA", "94102", "America/Los_Angeles"),
    ("206", "Seattle", "WA", "98101", "America/Los_Angeles"),
    ("907", "Anchorage", "AK", "99501", "America/Anchorage"),
    ("808", "Honolulu", "HI", "96813", "Pacific/Honolulu"),
]
FIRST_NAMES = [
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
    "Sarah", "Carlos", "Maria", "Wei", "Aisha", "Dmitri", "Priya",
]  # fmt: skip
LAST_NAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
    "Rodriguez", "Martinez", "Hernandez", "Lopez", "Wilson", "Anderson", "Taylor", "Thomas",
    "Moore", "Jackson", "Martin", "Lee", "Nguyen", "Patel", "Kim", "Okafor",
]  # fmt: skip
STREETS = ["Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Park Blvd", "Elm St", "Lake Rd"]
# disposition, weight
DISPOSITIONS = [
    ("NA", 30), ("B", 8), ("A", 15), ("DROP", 5), ("CALLBK", 8), ("NI", 10),
    ("SALE", 6), ("DNC", 3), ("WN", 3), ("FOLLOW", 6),
]  # fmt: skip
LEAD_COUNT = 200
CALLED_LEADS = 90
HOPPER_LEADS = 15

RECEIVER_ENDPOINT = "Demo receiver"
RECEIVER_PATH = "/demo/receiver/"
SALE_ADAPTOR = "Sale payload"
SALE_FIELDS = [
    {"source": "id", "to": "lead_id"},
    {"source": "first_name", "to": "first_name"},
    {"source": "last_name", "to": "last_name"},
    {"source": "phone_number", "to": "phone"},
    {"source": "email", "to": "email"},
    {"source": "state", "to": "state"},
    {"source": "call.started_at", "to": "sold_at"},
    {"source": "call.length", "to": "call_seconds"},
]
ACTIVITY_SCHEDULE = "Demo activity"
ACTIVITY_TASK = "leads.demo.record_calls"
WORKFLOWS = [
    {
        "name": "Sale: send to the partner CRM",
        "description": "Posts every sale to the partner CRM's webhook (the demo receiver).",
        "all_campaigns": True,
        "events": [{"type": "DISPOSITION", "values": ["SALE"]}],
        "action_sets": [
            {
                "actions": [
                    {
                        "type": "INTEGRATION",
                        "config": {"endpoint": RECEIVER_ENDPOINT, "adaptor": SALE_ADAPTOR},
                    }
                ]
            }
        ],
    },
    {
        "name": "Do-not-call request: add to the DNC list",
        "description": "A lead dispositioned DNC: every phone of the lead on the global DNC list.",
        "all_campaigns": True,
        "events": [{"type": "DISPOSITION", "values": ["DNC"]}],
        "action_sets": [
            {"actions": [{"type": "DNC", "config": {"scope": "global", "phones": "all"}}]}
        ],
    },
    {
        "name": "No answer: back in the hopper in 2 minutes",
        "description": "Retry unanswered leads soon, only 8 AM to 9 PM in the lead's time zone.",
        "all_campaigns": True,
        "stop_if": "final_status",
        "skip_if_pending": True,
        "events": [{"type": "DISPOSITION", "values": ["NA"]}],
        "action_sets": [
            {
                "delay": {"mode": "fixed", "minutes": 2},
                "window": "8-9",
                "actions": [{"type": "HOPPER", "config": {"priority": 80}}],
            }
        ],
    },
]


# An example set of calling rules (SPEC C.3), marked as such: state laws differ and
# change, so an operator checks them before relying on them (or deletes them).
EVERY_DAY = {str(day): ["08:00", "20:00"] for day in range(7)}
EXAMPLE_CALLING_RULES = [
    {
        "name": "Example: Texas, 9 AM–9 PM, Sundays from noon",
        "state": "TX",
        "hours": {**{str(day): ["09:00", "21:00"] for day in range(6)}, "6": ["12:00", "21:00"]},
    },
    {"name": "Example: Florida, 8 AM–8 PM", "state": "FL", "hours": EVERY_DAY},
    {"name": "Example: Eastern time, no contact on Sundays", "timezone": "America/New_York",
     "hours": {"6": None}},
]  # fmt: skip


class Command(BaseCommand):
    help = (
        "Load demo data (campaigns, lists, statuses, ~200 leads, calls, an admin user). Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--addr",
            default="127.0.0.1:8000",
            help="host:port the web server listens on: the demo receiver's endpoint posts there",
        )
        parser.add_argument(
            "--no-activity",
            action="store_true",
            help="load the data only: no workflows, no scheduled calls",
        )

    def handle(self, *args, addr, no_activity, **options):
        rng = random.Random(42)
        now = timezone.now()
        self.created = {}
        with transaction.atomic():
            admin = self.admin_user()
            self.configuration()
            leads = self.leads(rng, now)
            self.calls(rng, now, leads, admin)
            self.follow_ups(rng, now, leads)
            self.calling_rules(now)
            if not no_activity:
                receiver = self.workflows(addr)
                self.activity(now)
        summary = ", ".join(f"{count} {name}" for name, count in self.created.items())
        self.stdout.write(f"Demo data loaded; created {summary}.")
        if not no_activity:
            self.where_to_look(addr, receiver)

    def count(self, name, created):
        self.created[name] = self.created.get(name, 0) + int(created)

    def admin_user(self):
        User = get_user_model()
        user = User.objects.filter(username="admin").first()
        if user is None:
            user = User.objects.create_superuser("admin", "admin@example.com", "admin")
            self.stdout.write(self.style.SUCCESS("Admin user: admin / admin (change it!)"))
            self.count("users", True)
        else:
            self.stdout.write("Admin user 'admin' exists; its password was left unchanged.")
            self.count("users", False)
        return user

    def configuration(self):
        for code, name, flags in STATUSES:
            self.count(
                "statuses",
                Status.objects.get_or_create(code=code, defaults={"name": name, **flags})[1],
            )
        for campaign_name, list_names in CAMPAIGNS.items():
            campaign, created = Campaign.objects.get_or_create(name=campaign_name)
            self.count("campaigns", created)
            for list_name in list_names:
                self.count(
                    "lists",
                    List.objects.get_or_create(name=list_name, defaults={"campaign": campaign})[1],
                )
        for queue_name, campaign_name in QUEUES.items():
            campaign = Campaign.objects.filter(name=campaign_name).first()
            self.count(
                "queues",
                Queue.objects.get_or_create(name=queue_name, defaults={"campaign": campaign})[1],
            )
        for number, queue_name, description in INBOUND_NUMBERS:
            queue = Queue.objects.get(name=queue_name)
            self.count(
                "inbound numbers",
                InboundNumber.objects.get_or_create(
                    number=number, defaults={"queue": queue, "description": description}
                )[1],
            )
        for name, label, type_, choices in CUSTOM_FIELDS:
            self.count(
                "custom fields",
                CustomField.objects.get_or_create(
                    name=name, defaults={"label": label, "type": type_, "choices": choices}
                )[1],
            )
        for name, subject, body in EMAIL_TEMPLATES:
            missing = not EmailTemplate.objects.filter(name=name).exists()
            if missing:
                template = EmailTemplate(name=name, subject=subject, body=body)
                template.full_clean()
                template.save()
            self.count("email templates", missing)

    def leads(self, rng, now):
        """Bulk-insert the demo leads that are missing. Returns all of them by index."""
        lists = list(
            List.objects.filter(name__in=sum(CAMPAIGNS.values(), [])).select_related("campaign")
        )
        planned = []
        for i in range(LEAD_COUNT):
            code, city, state, zip_code, zone = AREAS[i % len(AREAS)]
            phone = phones.to_e164(f"{code}5550{100 + i // len(AREAS):03d}")
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            lead_list = rng.choice(lists)
            planned.append(
                Lead(
                    list=lead_list,
                    status_id="NEW",
                    first_name=first,
                    last_name=last,
                    phone_number=phone,
                    email=f"{first}.{last}{i}@example.com".lower(),
                    address1=f"{rng.randint(1, 9999)} {rng.choice(STREETS)}",
                    city=city,
                    state=state,
                    postal_code=zip_code,
                    country="US",
                    timezone=zone,
                    submitted_by=Source.IMPORT,
                    custom_fields=self.custom_fields(rng, lead_list.campaign.name),
                    created_at=now
                    - timedelta(days=rng.randint(20, 90), minutes=rng.randint(0, 1439)),
                )
            )
        existing = set(
            Lead.objects.filter(
                phone_number__in=[lead.phone_number for lead in planned]
            ).values_list("phone_number", flat=True)
        )
        missing = [lead for lead in planned if lead.phone_number not in existing]
        # bulk_create skips Lead.save(): an import fires no workflow (SPEC §3).
        Lead.objects.bulk_create(missing)
        self.count("leads", len(missing))
        by_phone = {
            lead.phone_number: lead
            for lead in Lead.objects.select_related("list").filter(
                phone_number__in=[p.phone_number for p in planned]
            )
        }
        return [by_phone[lead.phone_number] for lead in planned]

    @staticmethod
    def custom_fields(rng, campaign_name):
        if campaign_name == "Solar Q4":
            return {
                "monthly_bill": rng.randint(60, 400),
                "roof_type": rng.choice(["shingle", "tile", "metal", "flat"]),
            }
        if campaign_name == "Insurance":
            return {
                "policy_type": rng.choice(["auto", "home", "life"]),
                "current_carrier": rng.choice(["Acme", "Globex", "Initech", "none"]),
            }
        return {"home_owner": rng.random() < 0.7}

    def calls(self, rng, now, leads, agent):
        """Insert the missing demo calls, then set their leads' counters and status from them."""
        weights = [weight for _, weight in DISPOSITIONS]
        codes = [code for code, _ in DISPOSITIONS]
        final = set(Status.objects.filter(final=True).values_list("code", flat=True))
        queue = Queue.objects.filter(name="Sales Inbound").first()
        inbound = InboundNumber.objects.filter(queue=queue).first()
        planned = []
        for index in sorted(rng.sample(range(len(leads)), CALLED_LEADS)):
            lead = leads[index]
            started = now - timedelta(days=rng.randint(10, 19), hours=rng.randint(0, 8))
            for n in range(rng.randint(1, 4)):
                code = rng.choices(codes, weights)[0]
                reached = code in ("CALLBK", "NI", "SALE", "DNC", "FOLLOW")
                length = rng.randint(60, 900) if reached else rng.randint(0, 40)
                is_inbound = n == 0 and rng.random() < 0.15
                planned.append(
                    Call(
                        lead=lead,
                        campaign_id=lead.list.campaign_id,
                        list_id=lead.list_id,
                        queue=queue if is_inbound else None,
                        inbound_number=inbound if is_inbound else None,
                        agent=agent,
                        call_type=CallType.INBOUND if is_inbound else CallType.OUTBOUND,
                        started_at=started,
                        ended_at=started + timedelta(seconds=length),
                        length=length,
                        disposition_id=code,
                        term_reason=TermReason.AGENT if reached else TermReason.SYSTEM,
                        revenue=Decimal(rng.choice([450, 900, 1800, 3200]))
                        if code == "SALE"
                        else Decimal("0"),
                        external_id=f"demo-{index:03d}-{n}",
                    )
                )
                if code in final:
                    break
                started += timedelta(days=rng.randint(1, 3), hours=rng.randint(0, 5))
        existing = set(
            Call.objects.filter(external_id__in=[c.external_id for c in planned]).values_list(
                "external_id", flat=True
            )
        )
        missing = [call for call in planned if call.external_id not in existing]
        Call.objects.bulk_create(missing)
        self.count("calls", len(missing))
        self.update_leads_from_calls({call.lead_id for call in missing})

    @staticmethod
    def update_leads_from_calls(lead_ids):
        """Counters and status as Call.record would have left them (without firing workflows)."""
        if not lead_ids:
            return
        stats = {
            row["lead"]: row
            for row in Call.objects.filter(lead__in=lead_ids)
            .values("lead")
            .annotate(n=Count("id"), last=Max("started_at"))
        }
        latest = {}
        for lead_id, code in (
            Call.objects.filter(lead__in=lead_ids)
            .order_by("started_at")
            .values_list("lead", "disposition")
        ):
            latest[lead_id] = code or latest.get(lead_id)
        leads = list(Lead.objects.filter(pk__in=lead_ids))
        for lead in leads:
            lead.called_count = stats[lead.pk]["n"]
            lead.last_called_at = stats[lead.pk]["last"]
            lead.status_id = latest.get(lead.pk) or lead.status_id
        Lead.objects.bulk_update(leads, ["called_count", "last_called_at", "status"])

    def follow_ups(self, rng, now, leads):
        """Callbacks for CALLBK leads, DNC entries for DNC leads, a few new leads in the hopper."""
        ids = [lead.pk for lead in leads]
        with_callback = set(Callback.objects.filter(lead__in=ids).values_list("lead", flat=True))
        callbacks = [
            Callback(
                lead_id=pk,
                due_at=now + timedelta(hours=rng.randint(2, 72)),
                note="Asked to be called back",
            )
            for pk in Lead.objects.filter(pk__in=ids, status="CALLBK")
            .values_list("pk", flat=True)
            .order_by("pk")
            if pk not in with_callback
        ]
        Callback.objects.bulk_create(callbacks)
        self.count("callbacks", len(callbacks))

        for phone in Lead.objects.filter(pk__in=ids, status="DNC").values_list(
            "phone_number", flat=True
        ):
            self.count(
                "DNC entries",
                DncEntry.add(phone, reason="Asked not to be called", source="demo")[1],
            )

        if HopperEntry.objects.filter(lead__in=ids).exists():
            self.count("hopper entries", 0)
            return
        fresh = (
            Lead.objects.filter(pk__in=ids, called_count=0)
            .select_related("list")
            .order_by("pk")[:HOPPER_LEADS]
        )
        entries = [
            HopperEntry(
                lead=lead,
                campaign_id=lead.list.campaign_id,
                priority=50,
                source="API",
                expires_at=now + timedelta(days=2),
            )
            for lead in fresh
        ]
        HopperEntry.objects.bulk_create(entries)
        self.count("hopper entries", len(entries))

    def calling_rules(self, now):
        """The example calling rules (named "Example: …"), with the coming holidays blocked."""
        from automation.models import CallingRule

        holidays = [
            f"{year}-{md}" for year in (now.year, now.year + 1) for md in ("12-25", "01-01")
        ]
        for rule in EXAMPLE_CALLING_RULES:
            defaults = {"hours": rule["hours"], "blocked_dates": sorted(holidays)}
            self.count(
                "example calling rules",
                CallingRule.objects.get_or_create(
                    name=rule["name"],
                    state=rule.get("state", ""),
                    timezone=rule.get("timezone", ""),
                    defaults=defaults,
                )[1],
            )

    def workflows(self, addr):
        """The demo receiver's endpoint (at `addr`) and adaptor, and the demo's workflows."""
        url = f"http://{addr}{RECEIVER_PATH}"
        endpoint, created = Endpoint.objects.get_or_create(
            name=RECEIVER_ENDPOINT,
            defaults={"url": url, "success_key": "ok"},
        )
        if endpoint.url != url:  # the web server moved: follow it
            endpoint.url = url
            endpoint.save(update_fields=["url"])
        self.count("endpoints", created)
        self.count(
            "adaptors",
            Adaptor.objects.get_or_create(name=SALE_ADAPTOR, defaults={"fields": SALE_FIELDS})[1],
        )
        for doc in WORKFLOWS:
            missing = not Workflow.objects.filter(name=doc["name"]).exists()
            if missing:
                document.save(doc, source=VersionSource.IMPORT)  # its version 1
            self.count("workflows", missing)
        return url

    def activity(self, now):
        """Record calls every minute (a django-q2 schedule), and a first batch at once."""
        self.count(
            "schedules",
            Schedule.objects.get_or_create(
                name=ACTIVITY_SCHEDULE,
                defaults={
                    "func": ACTIVITY_TASK,
                    "schedule_type": Schedule.MINUTES,
                    "minutes": 1,
                    "repeats": -1,
                    "next_run": now + timedelta(minutes=1),
                },
            )[1],
        )
        # After commit: the task must see the workflows this transaction creates.
        transaction.on_commit(lambda: async_task(ACTIVITY_TASK, task_name="demo-activity-first"))

    def where_to_look(self, addr, receiver):
        allowed = any(receiver.startswith(p) for p in settings.INTEGRATION_ALLOWED_URLS)
        self.stdout.write(
            f"Demo activity: a sale, a do-not-call and a no-answer call are recorded every "
            f"minute (the first right after the workers start). Watch the workflows act at\n"
            f"  http://{addr}/admin/automation/logentry/  (log in as admin)\n"
            f"  http://{addr}/admin/automation/workflow/"
        )
        if not (settings.DEMO_RECEIVER and allowed):
            self.stdout.write(
                self.style.WARNING(
                    f"The sales webhook will fail: set DEMO_RECEIVER=True and add {receiver} to "
                    "INTEGRATION_ALLOWED_URLS (make run does both)."
                )
            )
