"""Who may use the API: token or session, and model permissions."""

import pytest
from rest_framework.test import APIClient

ENDPOINTS = [
    "leads", "calls", "callbacks", "hopper", "dnc", "statuses", "lists", "campaigns",
    "queues", "inbound-numbers", "email-templates",
]  # fmt: skip


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_it_refuses_anonymous_requests(anonymous, db, endpoint):
    response = anonymous.get(f"/api/v1/{endpoint}/")

    assert response.status_code in (401, 403)


def test_it_refuses_anonymous_writes(anonymous, lead_list):
    response = anonymous.post(
        "/api/v1/leads/", {"list": lead_list.pk, "phone_number": "2125550100"}, format="json"
    )

    assert response.status_code == 401


def test_it_issues_a_token_that_authenticates(make_user, make_lead):
    make_user("integration", "leads.view_lead")
    lead = make_lead()
    client = APIClient()

    token = client.post(
        "/api/v1/auth/token/", {"username": "integration", "password": "secret-pass"}, format="json"
    )
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.data['token']}")
    response = client.get("/api/v1/leads/")

    assert token.status_code == 200
    assert [row["id"] for row in response.data["results"]] == [lead.pk]


def test_it_refuses_a_wrong_password_and_a_bad_token(make_user):
    make_user("integration")
    client = APIClient()

    token = client.post(
        "/api/v1/auth/token/", {"username": "integration", "password": "nope"}, format="json"
    )
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")

    assert token.status_code == 400
    assert client.get("/api/v1/leads/").status_code == 401


def test_reading_needs_the_view_permission(make_user, make_lead):
    make_lead()
    client = APIClient()
    client.force_authenticate(make_user("agent"))

    assert client.get("/api/v1/leads/").status_code == 403


def test_writing_needs_the_model_permission(make_user, lead_list):
    client = APIClient()
    client.force_authenticate(make_user("viewer", "leads.view_lead"))
    payload = {"list": lead_list.pk, "phone_number": "2125550100"}

    assert client.get("/api/v1/leads/").status_code == 200
    assert client.post("/api/v1/leads/", payload, format="json").status_code == 403

    client.force_authenticate(make_user("writer", "leads.view_lead", "leads.add_lead"))
    assert client.post("/api/v1/leads/", payload, format="json").status_code == 201


def test_it_accepts_a_session(client, admin_user):
    client.force_login(admin_user)

    assert client.get("/api/v1/leads/").status_code == 200
