"""The lead list's "Enroll in workflow…" action, its confirmation, the progress page
and the Enrollment pages (SPEC C.6)."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from automation.constants import EnrollmentStatus
from automation.models import Enrollment

pytestmark = pytest.mark.django_db

LEADS = reverse("admin:leads_lead_changelist")


def act(client, ids=(), query="", **extra):
    data = {"action": "enroll_in_workflow", "index": "0", ACTION_CHECKBOX_NAME: list(ids), **extra}
    return client.post(LEADS + query, data)


@pytest.fixture
def leads(make_lead):
    return [
        make_lead(status_id="NEW", last_name="Hopper"),
        make_lead(status_id="NEW", last_name="Lamarr"),
        make_lead(status_id="SALE", last_name="Curie"),
    ]


def test_it_confirms_the_selection_with_its_count_and_the_active_workflows(
    login, operator, leads, make_workflow
):
    active = make_workflow("Win-back")
    make_workflow("Old campaign", active=False)
    page = act(login(operator), [leads[0].pk, leads[2].pk])
    assert page.status_code == 200
    html = page.content.decode()
    assert "2 leads will be enrolled" in html
    assert "the selected leads" in html
    assert f'<option value="{active.pk}">Win-back</option>' in html
    assert "Old campaign" not in html
    assert not Enrollment.objects.exists()


def test_it_starts_the_job_for_the_selection_and_shows_its_progress(
    login, operator, leads, make_workflow
):
    workflow = make_workflow("Win-back")
    client = login(operator)
    response = act(client, [leads[0].pk, leads[2].pk], post="yes", workflow=workflow.pk, rate="250")
    job = Enrollment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:automation_enrollment_progress", args=[job.pk])
    assert job.workflow == workflow and job.rate == 250
    assert job.lead_ids == [leads[0].pk, leads[2].pk] and job.matched == 2
    assert job.created_by == operator
    page = client.get(response["Location"]).content.decode()
    assert '<progress id="enrollment-bar" max="1" value="0.0">' in page
    assert reverse("enrollment-detail", args=[job.pk]) in page  # what the bar polls
    assert "Cancel this enrollment" in page


def test_it_enrolls_the_whole_filtered_list_by_its_filter(login, operator, leads, make_workflow):
    workflow = make_workflow()
    query = "?status__code__exact=NEW"
    page = act(login(operator), [leads[0].pk], query, select_across="1")
    assert "2 leads will be enrolled" in page.content.decode()
    assert "every lead matching the list's filters" in page.content.decode()
    act(login(operator), [leads[0].pk], query, select_across="1", post="yes",
        workflow=workflow.pk, rate="100")  # fmt: skip
    job = Enrollment.objects.get()
    assert job.filter == {"status": ["NEW"]} and job.lead_ids is None
    assert job.matched == 2


def test_a_searched_list_is_enrolled_by_its_lead_ids(login, operator, leads, make_workflow):
    workflow = make_workflow()
    act(login(operator), [leads[1].pk], "?q=Lamarr", select_across="1", post="yes",
        workflow=workflow.pk, rate="100")  # fmt: skip
    job = Enrollment.objects.get()
    assert job.lead_ids == [leads[1].pk] and job.filter == {}


def test_it_refuses_a_bad_rate_and_keeps_the_page(login, operator, leads, make_workflow):
    workflow = make_workflow()
    for rate in ("0", "-1", "1000000", "fast"):
        page = act(login(operator), [leads[0].pk], post="yes", workflow=workflow.pk, rate=rate)
        assert page.status_code == 200
        assert "errorlist" in page.content.decode()
    assert not Enrollment.objects.exists()


def test_it_refuses_a_workflow_deactivated_meanwhile(login, operator, leads, make_workflow):
    workflow = make_workflow(active=False)
    page = act(login(operator), [leads[0].pk], post="yes", workflow=workflow.pk, rate="5")
    assert "Select a valid choice" in page.content.decode()
    assert not Enrollment.objects.exists()


def test_a_viewer_is_not_offered_the_action(login, viewer, leads, make_workflow):
    workflow = make_workflow()
    client = login(viewer)
    assert "enroll_in_workflow" not in client.get(LEADS).content.decode()
    act(client, [leads[0].pk], post="yes", workflow=workflow.pk, rate="5")
    assert not Enrollment.objects.exists()


def test_the_enrollment_pages_list_and_cancel(login, operator, viewer, leads, make_workflow):
    job = Enrollment.objects.create(workflow=make_workflow("Win-back"), rate=5, matched=4, done=1)
    listed = login(viewer).get(reverse("admin:automation_enrollment_changelist"))
    assert listed.status_code == 200
    assert "25%" in listed.content.decode()
    cancel = reverse("admin:automation_enrollment_cancel", args=[job.pk])
    progress = login(viewer).get(reverse("admin:automation_enrollment_progress", args=[job.pk]))
    assert "Cancel this enrollment" not in progress.content.decode()
    assert login(viewer).post(cancel).status_code == 403
    assert login(operator).post(cancel).status_code == 302
    job.refresh_from_db()
    assert job.status == EnrollmentStatus.CANCELLED and job.reason == "cancelled by olga"
    assert (
        login(operator).get(reverse("admin:automation_enrollment_progress", args=["x"])).status_code
        == 404
    )


def test_it_warns_of_the_flood_hold_for_a_large_enrollment(login, operator, leads, make_workflow):
    from leads.models import Lead

    make_workflow()
    few = act(login(operator), [leads[0].pk], select_across="1").content.decode()
    assert "flood hold" not in few
    Lead.objects.bulk_create(
        Lead(list=leads[0].list, phone_number=f"+1310444{n:04d}") for n in range(1000)
    )
    many = act(login(operator), [leads[0].pk], select_across="1").content.decode()
    assert "1003 leads will be enrolled" in many
    assert "The flood hold applies too" in many
