"""Hostile query strings against every API list and every admin changelist (django-q2's too).

The parameter names come from the code: each API viewset's FilterSet (or
`filterset_fields`) plus paging, ordering and cursor; each registered
ModelAdmin's model fields with the admin's lookups plus the custom filters'
parameters. Values: ids in every spelling (`²`, `٣`, 10^23), NUL, lone
surrogates (percent-encoded), dates at the calendar's ends.
"""

import time
from urllib.parse import urlencode

import pytest
from django.contrib import admin
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.urls import router
from tests.fuzz.conftest import names_a_path, snapshot
from tests.fuzz.hostile import query_string

API_QUERIES = 1000
ADMIN_QUERIES = 600

FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def api_lists():
    """(list URL, parameter names) of every API list."""
    lists = []
    for prefix, viewset, _ in router.registry:
        if not hasattr(viewset, "list"):
            continue  # a detail-only route (backtests/{id}/): no list to page
        names = set(getattr(viewset, "filterset_fields", None) or [])
        filterset = getattr(viewset, "filterset_class", None)
        if filterset is not None:
            names |= set(filterset.base_filters)
        names |= set(getattr(viewset, "ordering_fields", None) or [])
        lists.append((f"/api/v1/{prefix}/", sorted(names)))
    return lists


def admin_changelists():
    """(changelist URL, parameter names) of every registered ModelAdmin."""
    lists = []
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        names = []
        for field in opts.concrete_fields:
            base = field.name
            names += [base, f"{base}__exact", f"{base}__gte", f"{base}__in", f"{base}__isnull"]
            if field.is_relation:
                names += [f"{base}__id__exact", f"{base}__pk__exact"]
        for spec in model_admin.list_filter:
            if isinstance(spec, type) and hasattr(spec, "expected_parameters"):
                names += [getattr(spec, "parameter_name", None) or ""]
                field = getattr(spec, "field", "")
                names += [f"{field}_from", f"{field}_to"] if field else []
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        lists.append((url, sorted({n for n in names if n} | {"lead", "_facets", "all"})))
    return lists


def test_every_list_and_changelist_is_fuzzed():
    assert len(api_lists()) >= 17
    urls = [url for url, _ in admin_changelists()]
    assert "/admin/django_q/failure/" in urls and "/admin/django_q/success/" in urls
    assert "/admin/automation/logentry/" in urls and "/admin/leads/lead/" in urls


def test_api_lists_answer_hostile_query_strings_with_a_400_naming_it(
    world, tally, no_unhandled_exceptions
):
    api, lists = world.api, api_lists()
    sent = {"n": 0}
    before = snapshot()
    started = time.monotonic()

    @settings(FUZZ, max_examples=API_QUERIES)
    @given(data=st.data())
    def send(data):
        url, names = data.draw(st.sampled_from(lists))
        pairs, query = query_string(data.draw, names)
        response = api.get(f"{url}?{query}")
        sent["n"] += 1
        tally.add("API query strings", response.status_code)
        assert response.status_code < 500, (url, pairs)
        assert response.status_code in (200, 400, 404), (url, pairs, response.content[:300])
        if response.status_code == 400:
            assert names_a_path(response), (url, pairs, response.content[:300])
            named = set(response.json())
            assert named <= {name for name, _ in pairs}, (named, pairs)

    send()
    tally.seconds["API query strings"] += time.monotonic() - started
    assert sent["n"] >= API_QUERIES
    assert snapshot() == before  # reading changed nothing


def test_admin_changelists_answer_hostile_query_strings_with_no_results_or_a_message(
    world, tally, no_unhandled_exceptions
):
    client, lists = world.admin, admin_changelists()
    sent = {"n": 0}
    started = time.monotonic()

    @settings(FUZZ, max_examples=ADMIN_QUERIES)
    @given(data=st.data())
    def send(data):
        url, names = data.draw(st.sampled_from(lists))
        pairs, query = query_string(data.draw, names)
        response = client.get(f"{url}?{query}")
        sent["n"] += 1
        tally.add("admin query strings", response.status_code)
        assert response.status_code < 500, (url, pairs)
        assert response.status_code in (200, 302, 400), (url, pairs)

    send()
    tally.seconds["admin query strings"] += time.monotonic() - started
    assert sent["n"] >= ADMIN_QUERIES


def custom_admin_pages(world):
    workflow, endpoint, adaptor = world.workflow, world.endpoint, world.adaptor
    return [
        ("get", reverse("admin:automation_logentry_flush"), ["workflow", "lead", "next"]),
        ("post", reverse("admin:automation_logentry_flush"), ["workflow", "lead", "post"]),
        ("get", f"/admin/automation/workflow/{workflow.pk}/dry-run/", ["lead"]),
        ("get", "/admin/automation/actionset/add/", ["workflow"]),
        ("get", f"/admin/automation/endpoint/{endpoint.pk}/test/", ["lead"]),
        ("post", f"/admin/automation/endpoint/{endpoint.pk}/test/", ["lead", "adaptor"]),
        ("post", f"/admin/automation/adaptor/{adaptor.pk}/test/", ["lead"]),
        ("get", "/admin/autocomplete/", ["term", "app_label", "model_name", "field_name"]),
    ]


HOSTILE_IDS = ["²", "٣", "a\x00b", "%00", "99999999999999999999999", "-1", "0", "1e3", "\ud800"]


def test_custom_admin_views_read_their_parameters_as_ids(world, tally, no_unhandled_exceptions):
    client = world.admin
    for method, url, names in custom_admin_pages(world):
        for name in names:
            for value in HOSTILE_IDS:
                query = urlencode({name: value}, encoding="utf-8", errors="surrogatepass")
                if method == "get":
                    response = client.get(f"{url}?{query}")
                else:
                    response = client.post(url, query, "application/x-www-form-urlencoded")
                tally.add("admin custom views", response.status_code)
                assert response.status_code < 500, (method, url, name, value)
    for value in HOSTILE_IDS:  # ids in the path
        quoted = urlencode({"x": value}, encoding="utf-8", errors="surrogatepass")[2:]
        for path in (
            f"/admin/automation/workflow/{quoted}/dry-run/",
            f"/admin/automation/workflow/{quoted}/change/",
            f"/admin/leads/status/{quoted}/change/",
            f"/admin/leads/lead/{quoted}/change/",
            f"/admin/django_q/failure/{quoted}/change/",
        ):
            response = client.get(path)
            tally.add("admin custom views", response.status_code)
            assert response.status_code < 500, path
        for path in (
            f"/admin/automation/workflow/{quoted}/reenable/",
            f"/admin/automation/notification/{quoted}/acknowledge/",
        ):
            response = client.post(path)
            tally.add("admin custom views", response.status_code)
            assert response.status_code < 500, path


@pytest.mark.parametrize(
    "url",
    [
        "/admin/leads/lead/?state__exact=a%00b",
        "/admin/leads/callback/?state__exact=a%00b",
        "/admin/leads/hopperentry/?state__exact=a%00b",
        "/admin/automation/logentry/?state__exact=a%00b",
        "/admin/django_q/success/?func__exact=a%00b",
        "/admin/django_q/failure/?name=a%00b",
        "/admin/django_q/schedule/?func=a%00b",
        "/admin/django_q/ormq/?key=a%00b",
        "/admin/auth/user/?username=a%00b",
    ],
)
def test_a_nul_in_a_changelist_filter_shows_no_results_and_says_why(world, url):
    response = world.admin.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert "contains a NUL character; no results shown" in page


@pytest.mark.parametrize("page", ["logentry", "trigger"])
def test_a_non_ascii_lead_id_on_the_log_pages_is_an_error_not_a_500(world, page):
    response = world.admin.get(f"/admin/automation/{page}/", {"lead": "²"})
    assert response.status_code == 200
    assert "A lead ID is a number" in response.content.decode()


def test_the_flush_page_refuses_a_non_ascii_lead_id(world):
    response = world.admin.get(reverse("admin:automation_logentry_flush"), {"lead": "²"})
    assert response.status_code == 400
    assert b"lead" in response.content


@pytest.mark.parametrize(
    "params",
    [
        {"created_at_to": "9999-12-31"},
        {"created_at_from": "0001-01-01"},
        {"occurred_at_to": "9999-12-31"},
    ],
)
def test_a_date_at_the_end_of_the_calendar_is_a_filter_error(world, params):
    page = "trigger" if "occurred_at_to" in params else "logentry"
    response = world.admin.get(f"/admin/automation/{page}/", params)
    assert response.status_code == 200
    assert "Not a date" in response.content.decode()


def test_every_api_list_caps_a_huge_limit(world, tally):
    for url, _ in api_lists():
        response = world.api.get(url, {"limit": "99999999999999999999999"})
        tally.add("API ?limit=10^23", response.status_code)
        assert response.status_code == 200, (url, response.content[:200])
        body = response.json()
        assert len(body["results"]) <= 1000
        response = world.api.get(url, {"offset": "99999999999999999999999"})
        assert response.status_code in (200, 400), url


@pytest.mark.parametrize("value", ["%00", "%s", "%(x)s", "50%"])
def test_a_percent_sign_in_a_filter_value_is_a_400_naming_it(world, value):
    """The error quotes the value; django-filters formats every message, so a `%` in
    it was a TypeError and a 500 (found by the fuzz test above)."""
    for url in ("/api/v1/workflow-logs/", "/api/v1/workflow-triggers/"):
        response = world.api.get(url, {"lead": value})
        assert response.status_code == 400, (url, value, response.content[:200])
        assert value in response.json()["lead"][0]
