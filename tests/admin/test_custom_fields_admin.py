"""Custom fields in the admin (SPEC C.2): operators declare them; a lead's custom fields
are checked against them; a field a workflow uses is protected from deletion; a condition
naming an undeclared field is refused next to it."""

import json

import pytest
from django.urls import reverse

from automation.models import EventCondition
from leads.models import CustomField, Lead
from tests.admin.forms import workflow_data

pytestmark = pytest.mark.django_db

ADD = "admin:leads_customfield_add"


def test_an_operator_declares_a_choice_field(operator, login):
    client = login(operator)
    body = {"name": "roof_type", "label": "Roof type", "type": "choice", "choices": "tile, metal"}
    response = client.post(reverse(ADD), body)
    assert response.status_code == 302, response.context and response.context["errors"]
    field = CustomField.objects.get()
    assert (field.name, field.type, field.choices) == ("roof_type", "choice", ["tile", "metal"])
    page = client.get(reverse("admin:leads_customfield_change", args=[field.pk]))
    assert 'value="tile, metal"' in page.content.decode()


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"name": "roof", "label": "Roof", "type": "choice"}, "choices", "needs a list of values"),
        ({"name": "state", "label": "State", "type": "text"}, "name", "lead or call field"),
        ({"name": "roof", "label": "Roof", "type": ""}, "type", "required"),
    ],
)
def test_a_bad_declaration_is_refused_next_to_its_field(admin_client_, body, field, message):
    response = admin_client_.post(reverse(ADD), body)
    assert response.status_code == 200
    assert message in " ".join(response.context["adminform"].form.errors[field])
    assert not CustomField.objects.exists()


def lead_form(client, lead):
    url = reverse("admin:leads_lead_change", args=[lead.pk])
    page = client.get(url)
    data = {}
    for name in page.context["adminform"].form.fields:
        value = page.context["adminform"].form[name].value()
        if value is not None:
            data[name] = value if not isinstance(value, bool) else ("on" if value else "")
    for inline in page.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
    return url, {k: v for k, v in data.items() if v != ""}


def test_the_lead_page_checks_custom_fields_against_the_declarations(
    admin_client_, make_lead, declare
):
    declare("monthly_bill", type="number")
    lead = make_lead(custom_fields={"monthly_bill": 80})
    url, data = lead_form(admin_client_, lead)
    data["custom_fields"] = json.dumps({"monthly_bill": "lots", "colour": "red"})
    response = admin_client_.post(url, data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["custom_fields"]
    assert errors == [
        "monthly_bill: must be a number, not 'lots'",
        "colour: unknown custom field: declare it under Custom fields first",
    ]
    assert Lead.objects.get(pk=lead.pk).custom_fields == {"monthly_bill": 80}
    data["custom_fields"] = json.dumps({"monthly_bill": 95})
    response = admin_client_.post(url, data)
    assert response.status_code == 302, response.context and response.context["errors"]
    assert Lead.objects.get(pk=lead.pk).custom_fields == {"monthly_bill": 95}


def test_a_field_a_workflow_uses_cannot_be_deleted_from_the_admin(
    admin_client_, make_workflow, declare
):
    field = declare("score", type="number")
    workflow = make_workflow("Hot leads")
    EventCondition.objects.create(
        workflow=workflow,
        type="LEAD_FIELDS",
        config={"field": "score", "operator": "greater_than", "value": 50},
    )
    url = reverse("admin:leads_customfield_delete", args=[field.pk])
    page = admin_client_.get(url).content.decode()
    assert "The custom field &#x27;score&#x27; is used by workflow “Hot leads”" in page
    admin_client_.post(url, {"post": "yes"})
    assert CustomField.objects.filter(pk=field.pk).exists()


def test_the_workflow_page_refuses_a_condition_on_an_undeclared_field(admin_client_, statuses):
    data = workflow_data(
        events=[("LEAD_FIELDS", {"field": "sate", "operator": "equals", "value": "CA"})],
        all_campaigns="on",
    )
    response = admin_client_.post(reverse("admin:automation_workflow_add"), data)
    assert response.status_code == 200
    assert "unknown field &#x27;sate&#x27;" in response.content.decode()
