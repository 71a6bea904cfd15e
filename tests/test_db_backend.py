"""crm.db.send_later: a statement of the transaction that PostgreSQL gets with the
COMMIT (crm.db.postgresql), or before the next statement if one comes first, so
the transaction sees it as if it had run at once; elsewhere it runs at once."""

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from automation.models import JournalEntry
from crm.db import send_later
from leads.models import Lead

T0 = datetime(2026, 5, 4, 15, 0, 0, 123456, tzinfo=UTC)
INSERT = (
    'INSERT INTO automation_journalentry (occurred_at, lead_id, kind, facts, "values") '
    "VALUES (%s, %s, %s, %s, %s)"
)


def keep(lead_id, kind="save", facts='{"n": 1}', values="{}"):
    send_later(INSERT, [T0, lead_id, kind, facts, values])


def kinds():
    return sorted(JournalEntry.objects.values_list("kind", flat=True))


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_it_rides_with_the_commit_in_one_query():
    with CaptureQueriesContext(connection) as queries:
        with transaction.atomic():
            keep(7)
            assert connection.kept  # nothing sent yet
        assert not connection.kept
    begin, sent = (q["sql"] for q in queries.captured_queries)  # no INSERT of its own
    assert begin == "BEGIN"
    assert sent.startswith("INSERT INTO automation_journalentry") and sent.endswith(";\nCOMMIT")
    assert kinds() == ["save"]


@pytest.mark.django_db(transaction=True)
def test_a_read_in_the_transaction_finds_it():
    with transaction.atomic():
        keep(7)
        assert JournalEntry.objects.filter(lead_id=7).count() == 1
        keep(8)
    assert JournalEntry.objects.filter(lead_id__in=[7, 8]).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_rollback_to_a_savepoint_undoes_it():
    with transaction.atomic():
        keep(7, kind="kept")
        try:
            with transaction.atomic():
                keep(8, kind="undone")
                raise RuntimeError
        except RuntimeError:
            pass
    assert kinds() == ["kept"]


@pytest.mark.django_db(transaction=True)
def test_a_rollback_drops_it():
    with transaction.atomic():
        keep(7)
        transaction.set_rollback(True)
    assert getattr(connection, "kept", []) == []
    assert kinds() == []


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_it_runs_at_once():
    keep(7)
    assert getattr(connection, "kept", []) == []
    with connection.cursor() as cursor:  # a cursor of its own, no flush on the way
        cursor.execute("SELECT count(*) FROM automation_journalentry")
        assert cursor.fetchone() == (1,)


@pytest.mark.django_db(transaction=True)
def test_if_it_fails_the_commit_fails_and_the_whole_transaction_is_undone(make_lead):
    lead = make_lead(first_name="Ann")
    before = JournalEntry.objects.count()
    with pytest.raises(IntegrityError), transaction.atomic():
        Lead.objects.filter(pk=lead.pk).update(first_name="Bob")
        keep(None)  # lead_id is NOT NULL
    lead.refresh_from_db()
    assert lead.first_name == "Ann"
    assert JournalEntry.objects.count() == before  # and the connection still works


@pytest.mark.django_db(transaction=True)
def test_values_reach_the_row_exactly():
    text = 'O\'Brien \\ "quoted" 100% ünïcödé ✓'
    facts = '{"name": "O\'Brien \\\\ 100%", "n": 1}'
    with transaction.atomic():
        send_later(INSERT, [T0, 2**40, text[:20], facts, "{}"])
    (row,) = JournalEntry.objects.all()
    assert row.occurred_at == T0
    assert row.lead_id == 2**40
    assert row.kind == text[:20]
    assert row.facts == {"name": "O'Brien \\ 100%", "n": 1}


@pytest.mark.django_db
@pytest.mark.postgres
def test_other_values_are_bound_by_psycopg():
    connection.ensure_connection()
    sql = "SELECT %s, %s, %s, %s, 100%%"
    assert (
        connection.mogrify(sql, [1.5, True, None, "it's"])
        == b"SELECT 1.5, true, NULL, 'it''s', 100%"
    )
