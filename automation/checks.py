"""System checks guarding invariants the engine relies on."""

from django.conf import settings
from django.core.checks import Error, register


@register()
def check_q_cluster(app_configs, **kwargs):
    conf = settings.Q_CLUSTER
    errors = []
    if conf.get("retry", 60) <= conf.get("timeout", 0):
        errors.append(
            Error(
                "Q_CLUSTER['retry'] must exceed Q_CLUSTER['timeout']: django-q2 re-delivers "
                "a task still running after `retry` seconds.",
                id="automation.E001",
            )
        )
    if settings.DATABASES["default"].get("OPTIONS", {}).get("pool"):
        errors.append(
            Error(
                "Django's psycopg connection pool breaks qcluster (django-q2 issue #209).",
                id="automation.E002",
            )
        )
    return errors
