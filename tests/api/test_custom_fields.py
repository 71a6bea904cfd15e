"""Custom fields are declared (SPEC C.2): `custom-fields/`, leads validated against them,
workflows may name only declared ones, conditions compare by the declared type, and a
field something uses cannot be removed."""

import pytest

from automation.models import Trigger
from leads.models import CustomField, Lead

pytestmark = pytest.mark.django_db

FIELDS = "/api/v1/custom-fields/"
LEADS = "/api/v1/leads/"


def declare_via_api(api, **body):
    response = api.post(FIELDS, body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


# --- custom-fields/ -------------------------------------------------------------------


def test_it_declares_lists_and_changes_custom_fields(api):
    made = declare_via_api(
        api, name="roof_type", label="Roof type", type="choice", choices=["tile", "metal"]
    )
    assert made == {
        "id": made["id"],
        "name": "roof_type",
        "label": "Roof type",
        "type": "choice",
        "choices": ["tile", "metal"],
    }
    declare_via_api(api, name="monthly_bill", label="Monthly bill", type="number")
    listed = api.get(FIELDS).json()["results"]
    assert [f["name"] for f in listed] == ["monthly_bill", "roof_type"]
    changed = api.patch(f"{FIELDS}{made['id']}/", {"label": "Roof"}, format="json")
    assert changed.status_code == 200 and changed.json()["label"] == "Roof"


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        ({"name": "state", "label": "S", "type": "text"}, "name", "name of a lead or call field"),
        ({"name": "length", "label": "L", "type": "text"}, "name", "name of a lead or call field"),
        ({"name": "roof-type", "label": "R", "type": "text"}, "name", "Letters, digits"),
        ({"name": "x", "label": "X", "type": "colour"}, "type", "not a valid choice"),
        ({"name": "x", "label": "X", "type": "choice"}, "choices", "needs a list of values"),
        ({"name": "x", "label": "X", "type": "text", "choices": ["a"]}, "choices", "Only a"),
    ],
)
def test_it_refuses_a_bad_declaration_at_its_path(api, body, path, message):
    response = api.post(FIELDS, body, format="json")
    assert response.status_code == 400
    assert message in " ".join(response.json()[path])
    assert not CustomField.objects.exists()


# --- Leads' custom_fields ---------------------------------------------------------------


@pytest.fixture
def declared(declare):
    declare("roof_type", type="choice", choices=["tile", "metal"])
    declare("monthly_bill", type="number")
    declare("installed_on", type="date")
    declare("home_owner", type="boolean")
    declare("note")


def test_a_lead_takes_declared_custom_fields_of_their_type(api, lead_list, declared):
    values = {
        "roof_type": "tile",
        "monthly_bill": 120,
        "installed_on": "2026-03-01",
        "home_owner": True,
        "note": "call after 5",
    }
    body = {"list": lead_list.pk, "phone_number": "(212) 555-0188", "custom_fields": values}
    response = api.post(LEADS, body, format="json")
    assert response.status_code == 201, response.json()
    assert Lead.objects.get(pk=response.json()["id"]).custom_fields == values


@pytest.mark.parametrize(
    ("values", "errors"),
    [
        ({"colour": "red"}, {"custom_fields.colour": "unknown custom field"}),
        ({"monthly_bill": "lots"}, {"custom_fields.monthly_bill": "must be a number"}),
        ({"roof_type": "straw"}, {"custom_fields.roof_type": "must be one of tile, metal"}),
        ({"installed_on": "March"}, {"custom_fields.installed_on": "must be a date"}),
        ({"home_owner": "yes"}, {"custom_fields.home_owner": "must be true or false"}),
        (
            {"note": 5, "monthly_bill": True},
            {"custom_fields.note": "must be text", "custom_fields.monthly_bill": "must be a"},
        ),
    ],
)
def test_a_bad_custom_field_is_a_400_at_its_path_and_nothing_stored_is_lost(
    api, make_lead, declared, values, errors
):
    lead = make_lead(custom_fields={"note": "keep me"})
    response = api.patch(f"{LEADS}{lead.pk}/", {"custom_fields": values}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert set(body) == set(errors)
    for path, message in errors.items():
        assert body[path][0].startswith(message), body
    assert Lead.objects.get(pk=lead.pk).custom_fields == {"note": "keep me"}


def test_a_lead_with_values_stored_before_declaration_can_still_be_edited(api, make_lead):
    lead = make_lead(custom_fields={"legacy": "x"})
    response = api.patch(f"{LEADS}{lead.pk}/", {"first_name": "Grace"}, format="json")
    assert response.status_code == 200, response.json()
    assert Lead.objects.get(pk=lead.pk).custom_fields == {"legacy": "x"}


# --- Workflows name only fields that exist ------------------------------------------------


def workflow(events=(), actions=(), delay=None, **settings):
    return {
        "name": "Fields",
        "all_campaigns": True,
        "events": list(events) or [{"type": "LEAD_ACTION", "values": ["save"]}],
        "action_sets": [
            {
                "delay": delay or {"mode": "immediate"},
                "actions": list(actions) or [{"type": "HOPPER"}],
            }
        ],
        **settings,
    }


UNKNOWN = "unknown field"


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        (
            workflow([{"type": "LEAD_FIELDS", "field": "sate", "operator": "equals", "value": "CA"}]),
            "events[0].field",
        ),
        (
            workflow(
                [{"type": "LEAD_FIELDS", "field": "custom.first_nme", "operator": "is_blank"}]
            ),
            "events[0].field",
        ),
        (
            workflow(
                stop_if="lead_filter",
                stop_filter=[{"field": "sate", "operator": "equals", "value": "CA"}],
            ),
            "stop_filter[0].field",
        ),
        (
            workflow(delay={"mode": "lead_field", "field": "renewal", "direction": "before"}),
            "action_sets[0].delay.field",
        ),
        (
            workflow(actions=[{"type": "FIELD", "config": {"field": "custom.sate", "op": "set", "value": "1"}}]),
            "action_sets[0].actions[0].config.field",
        ),
        (
            workflow(
                actions=[
                    {"type": "FIELD",
                     "config": {"field": "state", "op": "copy", "source_field": "custom.st"}}
                ]
            ),
            "action_sets[0].actions[0].config.source_field",
        ),
        (
            workflow(actions=[{"type": "SMS", "config": {"message": "Hi {first_nme}"}}]),
            "action_sets[0].actions[0].config.message",
        ),
    ],
)  # fmt: skip
def test_a_document_naming_an_undeclared_field_is_a_400_at_its_path(api, statuses, doc, path):
    response = api.post("/api/v1/workflows/", doc, format="json")
    assert response.status_code == 400
    assert UNKNOWN in " ".join(response.json()[path]), response.json()


def test_a_document_naming_declared_fields_is_accepted(api, statuses, declare):
    declare("renewal", type="date")
    declare("score", type="number")
    doc = workflow(
        [{"type": "LEAD_FIELDS", "field": "score", "operator": "greater_than", "value": 10}],
        [
            {"type": "FIELD", "config": {"field": "custom.score", "op": "add", "value": "1"}},
            {"type": "SMS", "config": {"message": "Renewal on {renewal}, {first_name}"}},
        ],
        delay={"mode": "lead_field", "field": "renewal", "direction": "before", "days": 1},
    )
    response = api.post("/api/v1/workflows/", doc, format="json")
    assert response.status_code == 201, response.json()


def test_an_adaptor_source_must_be_a_declared_field(api, declare):
    body = {"name": "Payload", "fields": [{"source": "first_nme", "to": "fname"}]}
    response = api.post("/api/v1/adaptors/", body, format="json")
    assert response.status_code == 400
    assert UNKNOWN in str(response.json())
    declare("first_nme")
    assert api.post("/api/v1/adaptors/", body, format="json").status_code == 201


# --- Operators compare by the declared type -----------------------------------------------


def test_a_condition_compares_a_custom_field_by_its_declared_type(
    api, make_lead, statuses, declare
):
    field = declare("zip_code", type="text")
    doc = workflow(
        [{"type": "LEAD_FIELDS", "field": "zip_code", "operator": "equals", "value": "1234"}]
    )
    pk = api.post("/api/v1/workflows/", doc, format="json").json()["id"]
    lead = make_lead(custom_fields={"zip_code": "01234"})
    lead.save()
    assert not Trigger.objects.filter(workflow_id=pk).exists()  # as text, 01234 is not 1234
    response = api.patch(f"{FIELDS}{field.pk}/", {"type": "number"}, format="json")
    assert response.status_code == 200
    lead.save()
    assert Trigger.objects.get(workflow_id=pk, lead_id=lead.pk).outcome == "fired"


# --- Removing a field something uses ------------------------------------------------------


def test_removing_a_field_workflows_use_is_refused_listing_them(api, statuses, declare):
    field = declare("score", type="number")
    doc = workflow(
        [{"type": "LEAD_FIELDS", "field": "custom.score", "operator": "greater_than", "value": 1}]
    )
    assert api.post("/api/v1/workflows/", doc, format="json").status_code == 201
    response = api.delete(f"{FIELDS}{field.pk}/")
    assert response.status_code == 409
    assert response.json()["detail"] == (
        "The custom field 'score' is used by workflow “Fields”: change those first."
    )
    renamed = api.patch(f"{FIELDS}{field.pk}/", {"name": "points"}, format="json")
    assert renamed.status_code == 400 and "workflow “Fields”" in renamed.json()["name"][0]
    assert CustomField.objects.get(pk=field.pk).name == "score"


def test_an_unused_field_is_removed(api, declare):
    field = declare("score", type="number")
    assert api.delete(f"{FIELDS}{field.pk}/").status_code == 204
    assert not CustomField.objects.exists()
