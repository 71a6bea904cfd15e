"""CRM changelists stay cheap on big tables: no DISTINCT over leads, no lead counts."""

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from leads.models import List


def test_it_filters_leads_by_zone_without_scanning_them(admin_client_, make_lead, settings):
    settings.TIME_ZONE = "America/Chicago"
    la = make_lead(timezone="America/Los_Angeles")
    default = make_lead(phone_number="+18005550123")  # no zone of its own
    url = reverse("admin:leads_lead_changelist")
    with CaptureQueriesContext(connection) as queries:
        page = admin_client_.get(url)
    assert page.status_code == 200
    assert not [q for q in queries if "DISTINCT" in q["sql"].upper() and "timezone" in q["sql"]]
    html = page.content.decode()
    assert "Account default (America/Chicago)" in html and "America/Los_Angeles" in html
    shown = admin_client_.get(url, {"timezone": "America/Los_Angeles"}).context["cl"].result_list
    assert [lead.pk for lead in shown] == [la.pk]
    shown = admin_client_.get(url, {"timezone": ""}).context["cl"].result_list
    assert [lead.pk for lead in shown] == [default.pk]


def test_the_list_page_links_to_its_leads_instead_of_counting_them(
    admin_client_, make_lead, lead_list
):
    make_lead()
    with CaptureQueriesContext(connection) as queries:
        page = admin_client_.get(reverse("admin:leads_list_changelist"))
    assert page.status_code == 200
    assert not [q for q in queries if "COUNT" in q["sql"].upper() and "leads_lead" in q["sql"]]
    assert f"?list__id__exact={lead_list.pk}" in page.content.decode()
    assert List.objects.count() >= 1
