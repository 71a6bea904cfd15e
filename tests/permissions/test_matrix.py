"""Who may do what (SPEC C.2, Permissions): every API endpoint and every admin list page,
for anonymous users, a logged-in user without permissions, the viewer and
operator groups and a superuser.

The endpoints are read from the URL resolver: a new one without a line in
RULES fails here until someone decides who may use it. Every request runs in a
transaction rolled back afterwards, so all of them see the same small world.
"""

from django.contrib import admin
from django.contrib.auth.models import Permission
from django.db import transaction
from django.test import Client
from django.urls import URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

ROLES = ("anonymous", "nobody", "viewer", "operator", "superuser")
METHODS = ("get", "post", "put", "patch", "delete")

# Who may use an endpoint: everyone, anyone logged in, those who read
# (viewer, operator), those who operate (operator) or superusers only.
EVERYONE = set(ROLES)
LOGGED_IN = {"nobody", "viewer", "operator", "superuser"}
READ = {"viewer", "operator", "superuser"}
OPERATE = {"operator", "superuser"}
ADMIN = {"superuser"}

# What the operator writes (SPEC C.2): workflows, endpoints, adaptors. Every
# other model's writes are for administrators; every model is read by READ.
OPERATED = {"workflow", "endpoint", "adaptor", "customfield"}

# (url name, method) → who may, the status they get. A request sends `{}` as
# its JSON body: writes that pass the permission check answer 400 for it.
RULES = {
    ("api-token", "post"): (EVERYONE, 400),  # the login itself: no permission to check
    ("api-root", "get"): (LOGGED_IN, 200),  # links only
    ("api-schema", "get"): (LOGGED_IN, 200),
    ("api-docs", "get"): (LOGGED_IN, 200),
    ("constants", "get"): (READ, 200),
    ("workflow-export", "get"): (READ, 200),
    ("workflow-import-", "post"): (OPERATE, 400),
    ("workflow-dry-run", "post"): (READ, 400),  # stores nothing: a read, as in the admin
    ("workflow-flush", "post"): (OPERATE, 200),
    ("workflow-release", "post"): (OPERATE, 200),
    ("workflow-stats", "get"): (READ, 200),
    # Backtests read every lead's history and run a task: operators (SPEC C.6), not viewers.
    ("workflow-backtest", "post"): (OPERATE, 400),
    ("backtest-detail", "get"): (OPERATE, 200),
    ("backtest-cancel", "post"): (OPERATE, 200),
    ("workflow-enroll", "post"): (OPERATE, 400),  # SPEC C.2: enroll is the operator's
    ("enrollment-cancel", "post"): (OPERATE, 200),
    ("workflow-detail", "patch"): (OPERATE, 200),  # an empty PATCH changes nothing
    ("workflow-versions", "get"): (READ, 200),
    ("workflow-version", "get"): (READ, 200),
    ("workflow-version-restore", "post"): (OPERATE, 200),  # SPEC C.2: viewers may not restore
    ("workflow-clone", "post"): (OPERATE, 201),
    ("workflow-unarchive", "post"): (OPERATE, 200),
    ("workflow-log-flush", "post"): (OPERATE, 400),
    ("notification-acknowledge", "post"): (OPERATE, 200),
    ("endpoint-health", "get"): (READ, 200),
    ("endpoint-pause", "post"): (OPERATE, 200),
    ("endpoint-resume", "post"): (OPERATE, 200),
    ("endpoint-test", "post"): (READ, 400),  # a preview; sending needs change_endpoint
    ("adaptor-test", "post"): (READ, 400),
    ("endpoint-detail", "patch"): (OPERATE, 200),
    ("adaptor-detail", "patch"): (OPERATE, 200),
    # Where `{}` is a complete (all optional) or an incomplete (a call's checks) body:
    ("dncentry-detail", "put"): (ADMIN, 200),
    ("calling-rule-detail", "put"): (ADMIN, 200),
    ("call-detail", "patch"): (ADMIN, 400),
}
# The model's own CRUD: GET reads, POST/PUT/PATCH/DELETE write.
CRUD_STATUS = {"get": 200, "post": 400, "put": 400, "patch": 200, "delete": 204}
# Deleting what others still use is a 409 (rolled back or not, nothing is lost).
IN_USE = {"status", "list", "campaign", "queue"}


def expected(name, basename, method):
    """(who may, their status) for a supported method of a route."""
    if (name, method) in RULES:
        return RULES[(name, method)]
    if name not in (f"{basename}-list", f"{basename}-detail"):
        raise LookupError(f"{name} {method.upper()}: add it to RULES (who may use it?)")
    if method == "get":
        return READ, 200
    status = CRUD_STATUS[method]
    if method == "delete" and basename in IN_USE:
        status = 409
    return (OPERATE if basename in OPERATED else ADMIN), status


def api_routes(patterns=None, prefix=""):
    """The URLPattern of every /api/v1/ URL (without the .json format suffixes)."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from api_routes(pattern.url_patterns, route)
        elif route.startswith("api/v1/") and "format" not in route:
            yield pattern


def methods_of(callback):
    if getattr(callback, "actions", None):  # a viewset's route: method → action
        # DRF adds `head` to this dict at the route's first request: HEAD is GET's.
        return set(callback.actions) - {"head"}
    return {m for m in METHODS if hasattr(callback.cls, m)}


def rolled_back(client, method, url):
    """The status of `method url` with an empty JSON body; whatever it wrote is undone."""
    with transaction.atomic():
        response = getattr(client, method)(url, {}, format="json")
        transaction.set_rollback(True)
    return response.status_code


def test_it_answers_every_api_endpoint_as_the_matrix_says(world, users):
    clients = {"anonymous": APIClient()}
    for role, user in users.items():
        clients[role] = APIClient()
        clients[role].force_authenticate(user)
    mismatches, checked = [], 0
    for pattern in api_routes():
        callback = pattern.callback
        basename = getattr(callback, "initkwargs", {}).get("basename")
        groups = pattern.pattern.regex.groupindex
        kwargs = {"pk": world[basename]} if "pk" in groups else {}
        if "number" in groups:  # a workflow version: the world's workflow has version 1
            kwargs["number"] = 1
        url = reverse(pattern.name, kwargs=kwargs)
        supported = methods_of(callback)
        open_to = set().union(*(expected(pattern.name, basename, m)[0] for m in supported))
        for method in METHODS:
            if method in supported:
                allowed, status = expected(pattern.name, basename, method)
            else:  # never a 2xx: refused before (401/403) or after (405) the permission check
                allowed, status = set(), 405
            for role in ROLES:
                if role in allowed or (
                    method not in supported and role in open_to & {"anonymous", "superuser"}
                ):
                    want = {status}
                elif role == "anonymous":
                    want = {401}
                elif method not in supported:
                    want = {403, 405}
                else:
                    want = {403}
                got = rolled_back(clients[role], method, url)
                checked += 1
                if got not in want:
                    mismatches.append(f"{role:9} {method.upper():6} {url}: {got}, want {want}")
    assert checked > 500
    assert not mismatches, f"{len(mismatches)} of {checked}:\n" + "\n".join(mismatches)


# The admin: the viewer and operator read the CRM's and the automation's lists,
# not users, groups, API tokens or the task queue.
READ_APPS = {"leads", "automation"}


def test_it_shows_every_admin_list_page_as_the_matrix_says(world, users):
    clients = {"anonymous": Client()}
    for role, user in users.items():
        clients[role] = Client()
        clients[role].force_login(user)
    login = reverse("admin:login")
    pages = [(reverse("admin:index"), EVERYONE - {"anonymous"})]
    # A workflow's History (its versions and their diff) is read with the workflow.
    pages.append((reverse("admin:automation_workflow_history", args=[world["workflow"]]), READ))
    for model in admin.site._registry:
        meta = model._meta
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        pages.append((url, READ if meta.app_label in READ_APPS else ADMIN))
    mismatches = []
    for url, allowed in pages:
        for role in ROLES:
            response = clients[role].get(url)
            if role in allowed:
                ok = response.status_code == 200
            elif role == "anonymous":
                ok = response.status_code == 302 and response["Location"].startswith(login)
            else:
                ok = response.status_code == 403
            if not ok:
                mismatches.append(f"{role:9} {url}: {response.status_code}")
    assert len(pages) > 20
    assert not mismatches, f"{len(mismatches)} of {len(pages) * len(ROLES)}:\n" + "\n".join(
        mismatches
    )


def held(group):
    return {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Permission.objects.filter(group__name=group).select_related("content_type")
    }


def test_it_gives_the_viewer_every_view_permission_and_nothing_else(users):
    from django.apps import apps

    views = {
        f"{m._meta.app_label}.view_{m._meta.model_name}"
        for label in READ_APPS
        for m in apps.get_app_config(label).get_models()
    }
    assert held("viewer") == views


def test_it_gives_the_operator_the_writes_of_the_spec(users):
    writes = {p for p in held("operator") if ".view_" not in p}
    crud = {
        f"automation.{action}_{model}"
        for model in ("workflow", "eventcondition", "actionset", "action", "endpoint", "adaptor")
        for action in ("add", "change", "delete")
    }
    crud |= {f"leads.{action}_customfield" for action in ("add", "change", "delete")}
    assert writes == crud | {
        "automation.change_logentry",
        "automation.change_notification",
        "automation.add_enrollment",
        "automation.change_enrollment",
    }
    assert held("viewer") <= held("operator")
