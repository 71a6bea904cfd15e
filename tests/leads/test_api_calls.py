"""/api/v1/calls/: POST records a call once, PATCH of disposition is a redisposition."""

import pytest

from leads.models import Call

URL = "/api/v1/calls/"


def test_it_records_a_call_and_updates_the_lead(api, make_lead, statuses):
    lead = make_lead()
    payload = {
        "lead": lead.pk,
        "disposition": "SALE",
        "started_at": "2025-03-04T15:00:00Z",
        "ended_at": "2025-03-04T15:05:00Z",
        "revenue": "250.00",
        "term_reason": "AGENT",
        "external_id": "dialer-77",
    }

    response = api.post(URL, payload, format="json")

    assert response.status_code == 201, response.data
    call = Call.objects.get(pk=response.data["id"])
    assert (call.disposition_id, call.length, call.campaign_id) == (
        "SALE",
        300,
        lead.list.campaign_id,
    )
    lead.refresh_from_db()
    assert lead.called_count == 1
    assert lead.status_id == "SALE"
    assert lead.last_called_at.isoformat() == "2025-03-04T15:00:00+00:00"
    assert response.data["disposition"] == "SALE"


def test_it_records_an_external_id_once(api, make_lead, statuses):
    lead = make_lead()
    payload = {"lead": lead.pk, "disposition": "NA", "external_id": "dialer-1"}

    first = api.post(URL, payload, format="json")
    again = api.post(URL, payload | {"disposition": "B"}, format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.data["id"] == first.data["id"]
    assert again.data["disposition"] == "NA"
    assert Call.objects.count() == 1
    lead.refresh_from_db()
    assert lead.called_count == 1


def test_a_call_without_an_end_is_live(api, make_lead):
    lead = make_lead()

    response = api.post(URL, {"lead": lead.pk}, format="json")

    assert response.status_code == 201
    assert response.data["ended_at"] is None
    assert lead.live_call_exists()


def test_a_disposition_change_is_a_redisposition(api, make_lead, statuses):
    lead = make_lead()
    call, _ = Call.record(lead=lead, disposition=statuses["CALLBK"])

    response = api.patch(f"{URL}{call.pk}/", {"disposition": "SALE"}, format="json")

    assert response.status_code == 200, response.data
    call.refresh_from_db()
    lead.refresh_from_db()
    assert call.disposition_id == "SALE"
    assert lead.status_id == "SALE"
    assert lead.called_count == 1


def test_it_ends_a_live_call_without_touching_the_lead_status(api, make_lead, statuses):
    lead = make_lead(status=statuses["FOLLOW"])
    call, _ = Call.record(lead=lead, started_at="2025-03-04T15:00:00Z")

    response = api.patch(f"{URL}{call.pk}/", {"ended_at": "2025-03-04T15:01:30Z"}, format="json")

    assert response.status_code == 200, response.data
    call.refresh_from_db()
    lead.refresh_from_db()
    assert (call.is_live, call.length) == (False, 90)
    assert lead.status_id == "FOLLOW"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"disposition": "NOPE"}, "disposition"),
        ({"lead": 999999}, "lead"),
        ({"call_type": "CARRIER_PIGEON"}, "call_type"),
        ({"term_reason": "BORED"}, "term_reason"),
        ({"started_at": "yesterday"}, "started_at"),
        ({"length": -5}, "length"),
        ({"revenue": "lots"}, "revenue"),
        ({"started_at": "2025-03-04T15:00:00Z", "ended_at": "2025-03-04T14:00:00Z"}, "ended_at"),
        ({"queue": 999999}, "queue"),
        ({"ringtone": "jazz"}, "ringtone"),
    ],
)
def test_it_rejects_bad_input_naming_the_field(api, make_lead, statuses, change, field):
    response = api.post(URL, {"lead": make_lead().pk} | change, format="json")

    assert response.status_code == 400
    assert field in response.data
    assert not Call.objects.exists()


def test_it_does_not_move_a_call_to_another_lead(api, make_lead):
    call, _ = Call.record(lead=make_lead())
    other = make_lead()

    response = api.patch(f"{URL}{call.pk}/", {"lead": other.pk}, format="json")

    assert response.status_code == 400
    assert "lead" in response.data
    call.refresh_from_db()
    assert call.lead_id != other.pk


def test_it_does_not_remove_a_disposition(api, make_lead, statuses):
    call, _ = Call.record(lead=make_lead(), disposition=statuses["NA"])

    response = api.patch(f"{URL}{call.pk}/", {"disposition": None}, format="json")

    assert response.status_code == 400
    assert "disposition" in response.data


def test_it_refuses_an_external_id_taken_by_another_call(api, make_lead):
    lead = make_lead()
    Call.record(lead=lead, external_id="taken")
    call, _ = Call.record(lead=lead, external_id="mine")

    response = api.patch(f"{URL}{call.pk}/", {"external_id": "taken"}, format="json")

    assert response.status_code == 400
    assert "external_id" in response.data


def test_it_filters_calls(api, make_lead, statuses):
    lead, other = make_lead(), make_lead()
    sale, _ = Call.record(
        lead=lead,
        disposition=statuses["SALE"],
        external_id="x-1",
        started_at="2025-03-04T15:00:00Z",
        ended_at="2025-03-04T15:10:00Z",
    )
    live, _ = Call.record(lead=other)

    def ids(**params):
        return [row["id"] for row in api.get(URL, params).data["results"]]

    assert ids(lead=lead.pk) == [sale.pk]
    assert ids(disposition="SALE") == [sale.pk]
    assert ids(external_id="x-1") == [sale.pk]
    assert ids(live="true") == [live.pk]
    assert ids(live="false") == [sale.pk]
    assert ids(started_before="2025-03-05T00:00:00Z") == [sale.pk]
    assert ids(call_type="INBOUND") == []
