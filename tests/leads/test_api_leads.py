"""/api/v1/leads/: the lead contract of SPEC Appendix A."""

import pytest

from leads.models import Lead

URL = "/api/v1/leads/"


@pytest.fixture
def payload(lead_list):
    return {"list": lead_list.pk, "first_name": "Grace", "phone_number": "(212) 555-0188"}


def test_it_creates_a_lead_with_a_normalised_phone_and_derived_zone(
    api, payload, statuses, declare
):
    declare("roof_type")
    declare("bill", type="number")
    payload |= {"status": "NEW", "custom_fields": {"roof_type": "tile", "bill": 120}}

    response = api.post(URL, payload, format="json")

    assert response.status_code == 201, response.data
    lead = Lead.objects.get(pk=response.data["id"])
    assert lead.phone_number == "+12125550188"
    assert lead.timezone == "America/New_York"
    assert lead.status_id == "NEW"
    assert lead.custom_fields == {"roof_type": "tile", "bill": 120}
    assert lead.submitted_by == "api"
    assert response.data["status"] == "NEW"
    assert response.data["phone_number"] == "+12125550188"


def test_it_answers_with_every_field_of_the_contract(api, make_lead):
    lead = make_lead()

    response = api.get(f"{URL}{lead.pk}/")

    assert response.status_code == 200
    assert set(response.data) == {
        "id", "list", "status", "first_name", "last_name", "phone_number", "alt_phone",
        "email", "address1", "address2", "city", "state", "postal_code", "country",
        "timezone", "owner", "submitted_by", "custom_fields", "called_count",
        "last_called_at", "created_at", "modified_at",
    }  # fmt: skip


def test_it_ignores_read_only_counters(api, payload):
    payload |= {"called_count": 7}

    response = api.post(URL, payload, format="json")

    assert response.status_code == 201
    assert Lead.objects.get(pk=response.data["id"]).called_count == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"phone_number": "12345"}, "phone_number"),
        ({"phone_number": "call me"}, "phone_number"),
        ({"alt_phone": "555"}, "alt_phone"),
        ({"status": "NOPE"}, "status"),
        ({"list": 999999}, "list"),
        ({"list": "solar"}, "list"),
        ({"custom_fields": ["a", "b"]}, "custom_fields"),
        ({"custom_fields": "text"}, "custom_fields"),
        ({"custom_fields": {"first_name": "X"}}, "custom_fields"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"first_name": {"a": 1}}, "first_name"),
        ({"email": "not-an-email"}, "email"),
        ({"owner": 999999}, "owner"),
        ({"stauts": "NEW"}, "stauts"),
    ],
)
def test_it_rejects_bad_input_naming_the_field(api, payload, statuses, change, field):
    response = api.post(URL, payload | change, format="json")

    assert response.status_code == 400
    assert field in response.data
    assert not Lead.objects.exists()


def test_it_requires_a_list_and_a_phone(api):
    response = api.post(URL, {"first_name": "X"}, format="json")

    assert response.status_code == 400
    assert {"list", "phone_number"} <= set(response.data)


def test_it_rejects_a_body_that_is_not_an_object(api):
    response = api.post(URL, [1, 2], format="json")

    assert response.status_code == 400


def test_it_updates_a_lead(api, make_lead, statuses):
    lead = make_lead()

    response = api.patch(f"{URL}{lead.pk}/", {"status": "FOLLOW", "city": "Fresno"}, format="json")

    assert response.status_code == 200, response.data
    lead.refresh_from_db()
    assert (lead.status_id, lead.city) == ("FOLLOW", "Fresno")


def test_a_derived_zone_follows_a_new_phone_number(api, make_lead):
    lead = make_lead(phone_number="+12125550101")

    api.patch(f"{URL}{lead.pk}/", {"phone_number": "602-555-0101"}, format="json")

    lead.refresh_from_db()
    assert (lead.phone_number, lead.timezone) == ("+16025550101", "America/Phoenix")


def test_a_chosen_zone_stays_when_the_phone_changes(api, make_lead):
    lead = make_lead(phone_number="+12125550101", timezone="America/Denver")

    api.patch(f"{URL}{lead.pk}/", {"phone_number": "602-555-0101"}, format="json")

    lead.refresh_from_db()
    assert lead.timezone == "America/Denver"


def test_it_deletes_a_lead(api, make_lead):
    lead = make_lead()

    assert api.delete(f"{URL}{lead.pk}/").status_code == 204
    assert not Lead.objects.filter(pk=lead.pk).exists()


def test_it_filters_by_phone_in_any_spelling(api, make_lead):
    wanted = make_lead(phone_number="+13125550177")
    make_lead(phone_number="+13125550178")

    response = api.get(URL, {"phone_number": "(312) 555-0177"})

    assert [row["id"] for row in response.data["results"]] == [wanted.pk]


def test_it_rejects_a_malformed_phone_filter(api):
    response = api.get(URL, {"phone_number": "12"})

    assert response.status_code == 400
    assert "phone_number" in response.data


def test_it_filters_by_status_list_and_creation_time(api, make_lead, other_list, statuses):
    sale = make_lead(status=statuses["SALE"])
    make_lead(status=statuses["NEW"])
    elsewhere = make_lead(list=other_list, status=statuses["SALE"])

    by_status = api.get(URL, {"status": "SALE"}).data["results"]
    by_list = api.get(URL, {"list": other_list.pk}).data["results"]
    by_both = api.get(URL, {"status": "SALE", "list": sale.list_id}).data["results"]
    future = api.get(URL, {"created_after": "2999-01-01T00:00:00Z"}).data["results"]

    assert {row["id"] for row in by_status} == {sale.pk, elsewhere.pk}
    assert [row["id"] for row in by_list] == [elsewhere.pk]
    assert [row["id"] for row in by_both] == [sale.pk]
    assert future == []


def test_it_rejects_an_unknown_status_filter(api, statuses):
    response = api.get(URL, {"status": "NOPE"})

    assert response.status_code == 400
    assert "status" in response.data
