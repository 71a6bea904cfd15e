"""Django's PostgreSQL backend, with statements that ride with the COMMIT.

`send_later(sql, params)` keeps a statement of the current transaction and sends it
in the same round trip as the next statement of the connection, which is usually
the COMMIT: "INSERT ...; COMMIT" goes as one simple query, so the statement costs
no round trip of its own. The occurrence journal (automation.engine.journal) writes
its row on every lead save this way; the round trip was most of its price.

The server runs the kept statements before the statement they ride with, so what
the transaction sees is as if they had run at once: a read finds their rows, a
rollback to a savepoint undoes them, and an error in one fails the statement (or
the COMMIT) it rode with, which rolls the transaction back as any failed statement
does. A rollback, or a connection closed, drops them unsent. Outside a transaction
`send_later` runs the statement at once. With query logging on (DEBUG, or a test
capturing queries) each send is logged as one query.
"""

import time
from datetime import datetime

import psycopg
from django.db.backends.postgresql import base
from django.db.backends.utils import CursorWrapper, debug_transaction
from psycopg import pq


class SendsKeptFirst:
    """A cursor wrapper that sends the connection's kept statements with its own."""

    def _execute(self, sql, params, *args):
        if self.db.kept:
            self.db.send_kept(self.cursor)
        return super()._execute(sql, params, *args)

    def _executemany(self, sql, param_list, *args):
        if self.db.kept:
            self.db.send_kept(self.cursor)
        return super()._executemany(sql, param_list, *args)


class Cursor(SendsKeptFirst, CursorWrapper):
    pass


class DebugCursor(SendsKeptFirst, base.CursorDebugWrapper):
    pass


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kept = []  # statements to send with the next one, as bytes

    def send_later(self, sql, params):
        """Run `sql` with `params` in this transaction, sent with the next statement."""
        if not self.in_atomic_block:
            with self.cursor() as cursor:
                cursor.execute(sql, params)
            return
        self.ensure_connection()
        self.kept.append(self.mogrify(sql, params))

    def mogrify(self, sql, params):
        """`sql` with `params` bound, as bytes: None, integers, text and datetimes
        here (text quoted by libpq), anything else by psycopg's client-side binding."""
        escape = pq.Escaping(self.connection.pgconn).escape_literal
        literals = []
        for value in params:
            if value is None:
                literals.append(b"NULL")
            elif isinstance(value, bool) or not isinstance(value, int | str | datetime):
                return psycopg.ClientCursor(self.connection).mogrify(sql, params).encode()
            elif isinstance(value, str):
                literals.append(escape(value.encode()))
            elif isinstance(value, datetime):
                literals.append(escape(value.isoformat().encode()))
            else:
                literals.append(b"%d" % value)
        return sql.encode() % tuple(literals)

    def take_kept(self, then=None):
        """The kept statements (and `then`) as one query; none are kept after."""
        statements = self.kept
        self.kept = []
        if then:
            statements.append(then)
        return b";\n".join(statements)

    def send_kept(self, cursor):
        """Send the kept statements now (a statement of the transaction follows)."""
        query = self.take_kept()
        start = time.monotonic()
        with self.wrap_database_errors:
            cursor.execute(query)
        self.log_kept(query, start)

    def log_kept(self, query, start):
        if self.queries_logged:
            self.queries_log.append(
                {"sql": query.decode(errors="replace"), "time": f"{time.monotonic() - start:.3f}"}
            )

    def _commit(self):
        if not self.kept or self.connection is None:
            self.kept = []
            return super()._commit()
        query = self.take_kept(then=b"COMMIT")
        with debug_transaction(self, query.decode(errors="replace")), self.wrap_database_errors:
            result = self.connection.pgconn.exec_(query)
            if result.status == pq.ExecStatus.FATAL_ERROR:
                raise psycopg.errors.error_from_result(
                    result, encoding=self.connection.info.encoding
                )

    def _rollback(self):
        self.kept = []
        return super()._rollback()

    def _close(self):
        self.kept = []
        return super()._close()

    def make_cursor(self, cursor):
        return Cursor(cursor, self)

    def make_debug_cursor(self, cursor):
        return DebugCursor(cursor, self)
