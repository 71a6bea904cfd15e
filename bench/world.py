"""The bench's own databases and the data each scenario starts from.

Data is made the way production gets it where that is what we measure (lead
saves, calls through the API), and with `INSERT … SELECT generate_series`
where it is only the starting point (leads, pending entries): fast, and no
signal fires. `insert_sql()` builds those inserts from the model's fields, so
a column added later gets a sensible value without touching the bench.
"""

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/crm_bench"
CAMPAIGNS = 100  # campaign 0 is the leads' own; workflows of the others are out of scope
STATUSES = [
    ("NEW", "New lead", {}),
    ("NA", "No answer", {}),
    ("SALE", "Sale", {"reached": True, "sale": True, "final": True}),
    ("FOLLOW", "Follow up", {"reached": True, "contact": True}),
]
# Valid Los Angeles numbers, one per lead id: +1 310 200-0000 + id.
PHONE_SQL = "'+1310' || (2000000 + {id})::text"


def database_name(url):
    return urlsplit(url).path.lstrip("/")


def with_database(url, name):
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def ensure_database(url):
    """Create the database if it does not exist. True if created."""
    name = database_name(url)
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


def migrate(url):
    """`manage.py migrate` against `url` (a subprocess: settings are read once per process)."""
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=REPO,
        env=env,
        check=True,
    )


# Bulk inserts --------------------------------------------------------------------


def literal(value):
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def default_sql(field):
    """A value for a column the caller did not give: its default, else an empty one."""
    from django.db import models

    if field.null:
        return "NULL"
    if isinstance(field, models.JSONField):
        default = field.default() if callable(field.default) else field.default
        return "'[]'::jsonb" if isinstance(default, list) else "'{}'::jsonb"
    if isinstance(field, models.UUIDField):
        return "gen_random_uuid()"
    if isinstance(field, models.DateTimeField | models.DateField):
        return "now()"
    if field.has_default() and not callable(field.default):
        return literal(field.default)
    if isinstance(field, models.BooleanField):
        return "false"
    if isinstance(field, models.IntegerField | models.DecimalField | models.FloatField):
        return "0"
    return "''"


def insert_sql(model, count, exprs, start=1, returning=False):
    """`INSERT INTO <model> … SELECT … FROM generate_series(start, start+count-1) AS g`.

    `exprs` maps attnames to SQL expressions over `g`; other columns get defaults.
    """
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    unknown = set(exprs) - {f.attname for f in fields}
    assert not unknown, f"{model.__name__} has no columns {unknown}"
    columns = ", ".join(f'"{f.column}"' for f in fields)
    values = ", ".join(str(exprs.get(f.attname, default_sql(f))) for f in fields)
    text = (
        f'INSERT INTO "{model._meta.db_table}" ({columns}) SELECT {values} '
        f"FROM generate_series({int(start)}, {int(start) + int(count) - 1}) AS g"
    )
    if returning:
        text += ' RETURNING "id"'
    return text


def lead_exprs(list_sql, status="NEW"):
    return {
        "list_id": list_sql,
        "status_id": literal(status),
        "first_name": "'Lead'",
        "last_name": "g::text",
        "phone_number": PHONE_SQL.format(id="g"),
        "timezone": "'America/Los_Angeles'",
        "country": "'US'",
        "submitted_by": "'api'",
    }


# The small world every scenario starts from ----------------------------------


@dataclass
class World:
    campaigns: list  # ids; campaigns[0] is the leads' own
    lists: list  # one list per campaign, same order
    user_id: int
    token: str


def reset():
    """Empty every table the scenarios write (leads, calls, workflows, logs, queues)."""
    from django.apps import apps
    from django.db import connection

    from automation.engine import rules
    from leads.models import Call, Callback, DncEntry, HopperEntry, Lead

    models = [Lead, Call, Callback, HopperEntry, DncEntry]
    for label in ("automation", "django_q"):
        models += apps.get_app_config(label).get_models(include_auto_created=True)
    tables = sorted({m._meta.db_table for m in models if m._meta.managed and not m._meta.proxy})
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
        )
    rules.bump()


def base_world():
    """Statuses, the custom field `n` the scenarios' FIELD actions add to (a number),
    CAMPAIGNS campaigns with a list each, a superuser with an API token."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from leads.models import Campaign, CustomField, List, Status

    for code, name, flags in STATUSES:
        Status.objects.update_or_create(code=code, defaults={"name": name, **flags})
    CustomField.objects.update_or_create(name="n", defaults={"label": "N", "type": "number"})
    campaigns, lists = [], []
    for i in range(CAMPAIGNS):
        campaign, _ = Campaign.objects.get_or_create(name=f"Bench {i:03d}")
        lst, _ = List.objects.get_or_create(name=f"Bench list {i:03d}", campaign=campaign)
        campaigns.append(campaign.pk)
        lists.append(lst.pk)
    User = get_user_model()
    user = User.objects.filter(username="bench").first()
    if user is None:
        user = User.objects.create_superuser("bench", "bench@example.com", "bench-password")
    token, _ = Token.objects.get_or_create(user=user)
    return World(campaigns=campaigns, lists=lists, user_id=user.pk, token=token.key)


def make_leads(count, list_id):
    """`count` leads in one insert (no signal fires). Returns their ids."""
    from django.db import connection

    from leads.models import Lead

    with connection.cursor() as cursor:
        cursor.execute(insert_sql(Lead, count, lead_exprs(int(list_id)), returning=True))
        return sorted(row[0] for row in cursor.fetchall())


def make_workflows(specs):
    """Create workflows in bulk. Each spec: name, campaigns (ids) or all_campaigns,
    conditions [(type, config)], sets [(delay_days, [(action type, config)])].

    Bulk inserts send no signals: the rules' version is bumped once at the end.
    Returns the workflows' ids and their actions' ids (in spec order).
    """
    from automation.constants import DelayMode
    from automation.engine import rules
    from automation.models import Action, ActionSet, EventCondition, Workflow

    workflows = Workflow.objects.bulk_create(
        [Workflow(name=s["name"], all_campaigns=s.get("all_campaigns", False)) for s in specs],
        batch_size=2000,
    )
    through = Workflow.campaigns.through
    links, conditions, sets = [], [], []
    for w, s in zip(workflows, specs, strict=True):
        links += [through(workflow_id=w.pk, campaign_id=c) for c in s.get("campaigns", ())]
        conditions += [
            EventCondition(workflow_id=w.pk, type=t, config=c, position=i)
            for i, (t, c) in enumerate(s.get("conditions", ()))
        ]
        for i, (days, _actions) in enumerate(s.get("sets", ())):
            sets.append(
                ActionSet(
                    workflow_id=w.pk,
                    position=i,
                    delay_mode=DelayMode.FIXED if days else DelayMode.IMMEDIATE,
                    delay_days=days,
                )
            )
    through.objects.bulk_create(links, batch_size=5000)
    EventCondition.objects.bulk_create(conditions, batch_size=5000)
    ActionSet.objects.bulk_create(sets, batch_size=5000)
    actions = []
    set_iter = iter(sets)
    for s in specs:
        for _days, acts in s.get("sets", ()):
            aset = next(set_iter)
            actions += [
                Action(action_set_id=aset.pk, type=t, config=c, position=i)
                for i, (t, c) in enumerate(acts)
            ]
    Action.objects.bulk_create(actions, batch_size=5000)
    rules.bump()
    return [w.pk for w in workflows], [a.pk for a in actions]


def make_entries(action_id, lead_ids, due_sql="now()", list_id=None):
    """One pending entry of `action_id` per lead (contiguous ids), no lease. Returns the count.

    As the engine writes them, but in one INSERT … SELECT; `due_sql` is an SQL
    expression over `g` (1…n).
    """
    from django.db import connection

    from automation.constants import EntryState
    from automation.models import Action, LogEntry

    action = Action.objects.select_related("action_set").get(pk=action_id)
    first, count = lead_ids[0], len(lead_ids)
    assert lead_ids[-1] - first + 1 == count, "lead ids must be contiguous"
    workflow_id = action.action_set.workflow_id
    exprs = {
        "workflow_id": workflow_id,
        "action_id": action.pk,
        "lead_id": f"{first - 1} + g",
        "list_id": literal(list_id),
        "action_type": literal(action.type),
        "state": literal(EntryState.PENDING),
        "due_at": due_sql,
        "context": literal(f'{{"chain": [{workflow_id}]}}') + "::jsonb",
        "created_at": "now()",
    }
    with connection.cursor() as cursor:
        cursor.execute(insert_sql(LogEntry, count, exprs))
        return cursor.rowcount
