"""Database helpers shared by the apps (the PostgreSQL backend is `crm.db.postgresql`)."""

from django.db import connections


def send_later(sql, params, using="default"):
    """Run one statement in the current transaction, as late as it can be sent: on
    PostgreSQL with the COMMIT, in the same round trip, or before the next statement
    if one comes first (crm.db.postgresql); elsewhere now."""
    connection = connections[using]
    if hasattr(connection, "send_later"):
        connection.send_later(sql, params)
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
