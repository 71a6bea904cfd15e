"""Django's database sessions, reading the session cookie through crm.validation.

A cookie value that could not be a session key (a NUL, which PostgreSQL
refuses in a query) is no session, as an unknown key is: a new one starts.
"""

from django.contrib.sessions.backends import db

from crm.validation import text_problem


class SessionStore(db.SessionStore):
    def _get_session_from_db(self):
        if self.session_key is not None and text_problem(self.session_key):
            self._session_key = None
            return None
        return super()._get_session_from_db()
