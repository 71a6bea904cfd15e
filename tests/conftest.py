"""A small named world for every test: statuses, a campaign, lists, make_lead()."""

import itertools
from pathlib import Path

import pytest
from django.db import connection
from django.test import override_settings
from django_q.conf import Conf

from leads.models import Campaign, CustomField, Lead, List, Status

pytest_plugins = ["tests.stack"]  # demo_stack: the `make run` processes, shared by the session

STATUSES = [
    # code, name, flags
    ("NEW", "New lead", {}),
    ("NA", "No answer", {}),
    ("B", "Busy", {}),
    ("A", "Answering machine", {"voicemail": True}),
    ("CALLBK", "Callback requested", {"reached": True, "contact": True, "callback": True}),
    ("NI", "Not interested", {"reached": True, "contact": True, "final": True}),
    ("SALE", "Sale", {"reached": True, "contact": True, "sale": True, "final": True}),
    ("DNC", "Do not call", {"reached": True, "dnc": True, "final": True}),
    ("FOLLOW", "Follow up", {"reached": True, "contact": True}),
]


def pytest_addoption(parser):
    parser.addoption(
        "--pgbouncer",
        action="store_true",
        help="run the tests' PostgreSQL connections through a PgBouncer in transaction mode",
    )


def pytest_collection_modifyitems(config, items):
    if not config.getoption("pgbouncer"):
        # What checks the pooler itself runs only behind it (make test's second run).
        items[:] = [item for item in items if "pgbouncer" not in item.keywords]
    if connection.vendor == "postgresql":
        return
    # Only what SQLite cannot do carries the marker: the engine's PostgreSQL
    # statement (automation.engine.records.write_sql) and its prepared plan.
    skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL (CI runs these)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _test_client_settings():
    """Plain HTTP and unhashed static URLs, for the test client and the live server.

    Production settings redirect to HTTPS and want `collectstatic`'s manifest
    (the tests of the real `make run` stack, tests/deploy/, keep them).
    """
    with override_settings(
        SECURE_SSL_REDIRECT=False,
        SESSION_COOKIE_SECURE=False,
        CSRF_COOKIE_SECURE=False,
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        },
    ):
        yield


@pytest.fixture(autouse=True)
def rules_inline(monkeypatch):
    # The rule index's refresher thread reads committed data on a connection of
    # its own; a test's data is not committed. Tests bring the index up to date
    # inline (the refresher's own test turns it back on).
    from automation.engine import rules

    monkeypatch.setattr(rules, "BACKGROUND", False)


@pytest.fixture(autouse=True)
def q_sync(monkeypatch):
    # django-q2 reads its settings at import: switch sync mode on the class.
    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture(autouse=True)
def _private_networks(settings):
    # Webhook tests talk to servers they start on 127.0.0.1.
    settings.INTEGRATION_ALLOW_PRIVATE_NETWORKS = True


@pytest.fixture
def statuses(db):
    return {
        code: Status.objects.create(code=code, name=name, **flags) for code, name, flags in STATUSES
    }


@pytest.fixture
def declare(db):
    """`declare("score", type="number")`: declared custom fields (SPEC C.2), by name."""

    def make(*names, type="text", **fields):
        made = [
            CustomField.objects.update_or_create(
                name=name,
                defaults={"label": name.replace("_", " ").title(), "type": type, **fields},
            )[0]
            for name in names
        ]
        return made[0] if len(made) == 1 else made

    return make


@pytest.fixture
def campaign(db):
    return Campaign.objects.create(name="Solar Q4")


@pytest.fixture
def other_campaign(db):
    return Campaign.objects.create(name="Insurance")


@pytest.fixture
def lead_list(campaign):
    return List.objects.create(name="Solar CA", campaign=campaign)


@pytest.fixture
def other_list(other_campaign):
    return List.objects.create(name="Insurance TX", campaign=other_campaign)


_phones = itertools.count(1000)


@pytest.fixture
def make_lead(lead_list, statuses):
    def make(**fields):
        fields.setdefault("list", lead_list)
        fields.setdefault("phone_number", f"+1310555{next(_phones) % 10000:04d}")
        fields.setdefault("first_name", "Ada")
        fields.setdefault("last_name", "Lovelace")
        return Lead.objects.create(**fields)

    return make


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings):
    """On SQLite, the test database is a file (not memory): the cluster tests' subprocesses open it."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3" and not db.get("TEST", {}).get("NAME"):
        db.setdefault("TEST", {})["NAME"] = str(Path(db["NAME"]).with_name("test_crm.sqlite3"))


@pytest.fixture(scope="session")
def django_db_setup(request, django_db_setup):
    """With --pgbouncer, the tests' connections go through PgBouncer (tests/pgbouncer.py)."""
    if not request.config.getoption("pgbouncer"):
        yield
        return
    from django.db import connections

    from tests import pgbouncer

    db = connections["default"].settings_dict
    if connections["default"].vendor != "postgresql":
        raise pytest.UsageError("--pgbouncer needs DATABASE_URL to name a PostgreSQL database")
    direct = db["HOST"], db["PORT"]
    with pgbouncer.running(*direct, db["USER"] or "postgres") as port:
        for conn in connections.all():
            conn.close()
            conn.settings_dict.update(HOST="127.0.0.1", PORT=str(port))
        try:
            yield
        finally:
            for conn in connections.all():
                conn.close()
                conn.settings_dict.update(HOST=direct[0], PORT=direct[1])
