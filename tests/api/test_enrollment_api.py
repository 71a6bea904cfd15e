"""Bulk enrollment over the API (SPEC C.6): start (202), read, cancel, every 400, who may."""

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

from automation.constants import EnrollmentStatus, TriggerOutcome
from automation.execution import enrollment as jobs
from automation.models import Enrollment
from crm import groups
from tests.automation.engine_helpers import make_workflow

pytestmark = pytest.mark.django_db

IN_CA = [("LEAD_FIELDS", {"field": "state", "operator": "equals", "value": "CA"})]
LATER = {"delay_mode": "fixed", "delay_hours": 1}


@pytest.fixture
def workflow(statuses):
    return make_workflow(IN_CA, delay=LATER)


def url(workflow):
    return f"/api/v1/workflows/{workflow.pk}/enroll/"


def finish(job_id):
    """What the django-q2 task does (it runs at commit; the test's transaction never commits)."""
    job = Enrollment.objects.get(pk=job_id)
    jobs.run(job.pk, job.token, sleep=lambda s: None)


def test_it_starts_a_job_and_answers_202(api, workflow, make_lead, lead_list, other_list):
    make_lead(state="CA", status_id="NEW")
    make_lead(state="CA", status_id="NEW", list=other_list)
    make_lead(state="TX", status_id="NEW")
    make_lead(state="CA", status_id="SALE")
    body = {
        "filter": {
            "list": [lead_list.name],
            "campaign": [lead_list.campaign.name],
            "status": ["NEW"],
            "created_after": "2020-01-01T00:00:00Z",
        },
        "rate": 500,
    }
    response = api.post(url(workflow), body, format="json")
    assert response.status_code == 202, response.json()
    job = response.json()
    assert job["status"] == "running"
    assert job["matched"] == 2 and job["done"] == 0 and job["progress"] == 0
    assert job["filter"]["list"] == [lead_list.name]
    assert job["filter"]["status"] == ["NEW"]
    assert job["rate"] == 500
    finish(job["id"])
    done = api.get(f"/api/v1/enrollments/{job['id']}/").json()
    assert done["status"] == "done"
    assert done["done"] == 2 and done["progress"] == 1
    assert done["outcomes"] == {TriggerOutcome.FIRED: 1, "not_matched": 1}
    listed = api.get("/api/v1/enrollments/").json()
    assert [j["id"] for j in listed["results"]] == [job["id"]]


def test_an_empty_filter_enrolls_every_lead(api, workflow, make_lead):
    make_lead(state="CA")
    make_lead(state="TX")
    response = api.post(url(workflow), {"filter": {}, "rate": 10}, format="json")
    assert response.status_code == 202
    assert response.json()["matched"] == 2


@pytest.mark.parametrize(
    ("body", "path", "says"),
    [
        ({"filter": {"list": ["Nope"]}, "rate": 5}, "filter.list", "unknown list: 'Nope'"),
        ({"filter": {"campaign": ["Nope"]}, "rate": 5}, "filter.campaign", "unknown campaign"),
        ({"filter": {"status": ["ZZZ"]}, "rate": 5}, "filter.status", "unknown status: 'ZZZ'"),
        ({"filter": {"list": "Solar CA"}, "rate": 5}, "filter.list", "non-empty list"),
        ({"filter": {"list": [7]}, "rate": 5}, "filter.list[0]", "must be a name"),
        ({"filter": {"created_after": "yesterday"}, "rate": 5}, "filter.created_after", "ISO"),
        ({"filter": {"created_after": "2026-02-30T00:00"}, "rate": 5}, "filter.created_after", ""),
        ({"filter": {"owner": ["x"]}, "rate": 5}, "filter.owner", "unknown filter"),
        ({"filter": [], "rate": 5}, "filter", "must be an object"),
        ({"rate": 5}, "filter", "required"),
        ({"filter": {}}, "rate", "required"),
        ({"filter": {}, "rate": 0}, "rate", "at least 1"),
        ({"filter": {}, "rate": -3}, "rate", "at least 1"),
        ({"filter": {}, "rate": 10**9}, "rate", "at most 10000"),
        ({"filter": {}, "rate": "fast"}, "rate", "whole number"),
        ({"filter": {}, "rate": True}, "rate", "whole number"),
    ],
)
def test_it_refuses_bad_values_naming_the_path(api, workflow, lead_list, body, path, says):
    response = api.post(url(workflow), body, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert path in errors, errors
    assert says in errors[path][0]
    assert not Enrollment.objects.exists()


def test_it_names_every_bad_value_at_once(api, workflow):
    body = {"filter": {"list": ["Nope"], "status": ["ZZZ"]}, "rate": 0}
    errors = api.post(url(workflow), body, format="json").json()
    assert {"filter.list", "filter.status", "rate"} <= set(errors)


def test_it_refuses_an_inactive_workflow(api, statuses):
    workflow = make_workflow(IN_CA, active=False)
    response = api.post(url(workflow), {"filter": {}, "rate": 5}, format="json")
    assert response.status_code == 400
    assert response.json()["workflow"] == [
        "workflow is not active: activate it before enrolling leads"
    ]


def test_it_404s_an_unknown_workflow_or_job(api, workflow):
    assert api.post("/api/v1/workflows/999999/enroll/", {}, format="json").status_code == 404
    assert api.get("/api/v1/enrollments/999999/").status_code == 404
    assert api.get("/api/v1/enrollments/x/").status_code == 404


def test_it_cancels_a_running_job(api, workflow, make_lead):
    make_lead(state="CA")
    job = api.post(url(workflow), {"filter": {}, "rate": 5}, format="json").json()
    response = api.post(f"/api/v1/enrollments/{job['id']}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["reason"] == "cancelled by boss"
    finish(job["id"])  # its task, if it arrives now, does nothing
    assert Enrollment.objects.get().done == 0
    again = api.post(f"/api/v1/enrollments/{job['id']}/cancel/")
    assert again.status_code == 400
    assert again.json() == {"status": ["the enrollment is cancelled, not running"]}


@pytest.fixture
def members(db):
    groups.sync()
    made = {}
    for name in groups.GROUPS:
        user = User.objects.create_user(name, password="pw-12345-x")
        user.groups.add(Group.objects.get(name=name))
        client = APIClient()
        client.force_authenticate(user)
        made[name] = client
    return made


def test_only_an_operator_enrolls_and_cancels(members, workflow, make_lead):
    make_lead(state="CA")
    body = {"filter": {}, "rate": 5}
    assert members["viewer"].post(url(workflow), body, format="json").status_code == 403
    response = members["operator"].post(url(workflow), body, format="json")
    assert response.status_code == 202
    job = response.json()["id"]
    assert members["viewer"].get(f"/api/v1/enrollments/{job}/").status_code == 200
    assert members["viewer"].post(f"/api/v1/enrollments/{job}/cancel/").status_code == 403
    assert Enrollment.objects.get().status == EnrollmentStatus.RUNNING
    assert members["operator"].post(f"/api/v1/enrollments/{job}/cancel/").status_code == 200
