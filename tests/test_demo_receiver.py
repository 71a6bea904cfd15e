"""/demo/receiver/: the demo's webhook target, there only when DEMO_RECEIVER is on."""

import pytest

pytestmark = pytest.mark.django_db


def test_it_acknowledges_a_posted_payload(client, settings):
    settings.DEMO_RECEIVER = True

    response = client.post("/demo/receiver/", {"lead_id": 7}, content_type="application/json")

    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert response.json()["received_bytes"] == len(b'{"lead_id": 7}')


def test_it_is_not_there_in_production(client, settings):
    settings.DEMO_RECEIVER = False

    assert client.post("/demo/receiver/", {}, content_type="application/json").status_code == 404
    assert client.get("/demo/receiver/").status_code == 404
