"""The workflow editor: typed event and action fields, field-level errors, tabs."""

import pytest
from django.urls import reverse

from automation.models import Action, ActionSet, Workflow
from leads.models import Campaign
from tests.admin.forms import action_set_data, workflow_data

ADD = reverse("admin:automation_workflow_add")


def errors_of(response):
    """{form field name: [messages]} of the main form and every inline form."""
    found = {}
    if response.context is None:
        return found
    adminform = response.context.get("adminform")
    if adminform is not None:
        found.update({k: list(v) for k, v in adminform.form.errors.items()})
    for inline in response.context.get("inline_admin_formsets", []):
        for form in inline.formset.forms:
            for key, messages in form.errors.items():
                found[f"{form.prefix}-{key}"] = list(messages)
    return found


def test_it_shows_the_settings_in_tabs(admin_client_):
    response = admin_client_.get(ADD)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="tab-config"' in html and "automation/tabs.js" in html
    tabs = [key for key, _ in response.context["tab_config"]["tabs"]]
    assert tabs == ["general", "stop", "schedule", "events", "actions"]
    assert 'class="module aligned tab-stop"' in html
    assert "9 triggers per lead per 3 minutes" in html


def test_it_saves_a_workflow_with_typed_event_fields(admin_client_, statuses, campaign):
    data = workflow_data(
        events=[
            ("DISPOSITION", {"values": ["SALE", "CALLBK"]}),
            ("CALL_COUNT", {"operator": "less_than_or_equal", "value": "3"}),
            ("LEAD_FIELDS", {"field": "state", "operator": "within", "values": "CA, NV"}),
        ],
        action_sets=[{"delay_mode": "fixed", "delay_hours": "1", "window": "9-5"}],
        campaigns=[str(campaign.pk)],
        schedule_enabled="on",
        schedule_days=["0", "1", "2", "3", "4"],
        _continue="Save and continue editing",
    )
    response = admin_client_.post(ADD, data)
    assert response.status_code == 302, errors_of(response)
    workflow = Workflow.objects.get(name="Sale follow-up")
    assert list(workflow.campaigns.all()) == [campaign]
    assert workflow.schedule_days == [0, 1, 2, 3, 4]
    events = {e.type: e.config for e in workflow.events.all()}
    assert events["DISPOSITION"] == {"values": ["SALE", "CALLBK"]}
    assert events["CALL_COUNT"] == {"operator": "less_than_or_equal", "value": "3"}
    assert events["LEAD_FIELDS"] == {"field": "state", "operator": "within", "values": ["CA", "NV"]}
    action_set = workflow.action_sets.get()
    assert (action_set.delay_mode, action_set.delay_hours, action_set.window) == ("fixed", 1, "9-5")


def test_it_shows_an_event_error_next_to_its_field(admin_client_, statuses):
    data = workflow_data(events=[("LEAD_STATUS", {}), ("DISPOSITION", {"values": ["SALE"]})])
    response = admin_client_.post(ADD, data)
    assert response.status_code == 200
    errors = errors_of(response)
    assert errors["events-0-LEAD_STATUS__to"] == ["give `to` and/or `from` status codes"]
    assert not Workflow.objects.exists()


def test_it_reports_an_operator_value_error_on_the_value(admin_client_, statuses):
    data = workflow_data(events=[("CALL_COUNT", {"operator": "between", "value": "1"})])
    response = admin_client_.post(ADD, data)
    errors = errors_of(response)
    assert "events-0-CALL_COUNT__value2" in errors, errors


def test_it_ignores_the_fields_of_types_not_chosen(admin_client_, statuses):
    data = workflow_data(events=[("DISPOSITION", {"values": ["SALE"]})])
    data["events-0-CALL_COUNT__operator"] = "equals"
    data["events-0-LEAD_FIELDS__field"] = "not a field!"
    response = admin_client_.post(ADD, data)
    assert response.status_code == 302, errors_of(response)
    assert Workflow.objects.get().events.get().config == {"values": ["SALE"]}


def test_it_accepts_objects_only_for_the_chosen_relation(
    admin_client_, statuses, campaign, lead_list
):
    data = workflow_data(relation="list", campaigns=[str(campaign.pk)], lists=[str(lead_list.pk)])
    response = admin_client_.post(ADD, data)
    errors = errors_of(response)
    assert "campaigns" in errors and "lists" not in errors
    assert "The relation is Lists" in errors["campaigns"][0]


def test_it_edits_the_stop_filter_as_rows(admin_client_, statuses):
    data = workflow_data(stop_if="lead_filter")
    data.update({
        "stop_filter-0-field": "state", "stop_filter-0-operator": "within", "stop_filter-0-value": "CA, NV",
        "stop_filter-1-field": "postal_code", "stop_filter-1-operator": "between",
        "stop_filter-1-value": "90000", "stop_filter-1-value2": "96199",
        "stop_filter-2-field": "", "stop_filter-2-operator": "", "stop_filter-2-value": "",
    })  # fmt: skip
    response = admin_client_.post(ADD, data)
    assert response.status_code == 302, errors_of(response)
    assert Workflow.objects.get().stop_filter == [
        {"field": "state", "operator": "within", "values": ["CA", "NV"]},
        {"field": "postal_code", "operator": "between", "value": "90000", "value2": "96199"},
    ]
    page = admin_client_.get(
        reverse("admin:automation_workflow_change", args=[Workflow.objects.get().pk])
    )
    html = page.content.decode()
    assert 'name="stop_filter-0-value" value="CA, NV"' in html
    assert 'name="stop_filter-1-value2" value="96199"' in html


def test_it_says_which_stop_filter_condition_is_wrong(admin_client_, statuses):
    data = workflow_data(stop_if="lead_filter")
    data.update(
        {
            "stop_filter-0-field": "state",
            "stop_filter-0-operator": "between",
            "stop_filter-0-value": "A",
        }
    )
    response = admin_client_.post(ADD, data)
    assert errors_of(response)["stop_filter"][0].startswith("Condition 1, value2:")


def test_it_needs_a_stop_filter_for_the_lead_filter_stop(admin_client_, statuses):
    response = admin_client_.post(ADD, workflow_data(stop_if="lead_filter"))
    assert "stop_filter" in errors_of(response)


def test_the_action_set_page_saves_typed_actions_and_returns_to_the_workflow(
    admin_client_, make_workflow, endpoint
):
    workflow = make_workflow()
    url = reverse("admin:automation_actionset_add") + f"?workflow={workflow.pk}"
    assert f'value="{workflow.pk}" selected' in admin_client_.get(url).content.decode()
    data = action_set_data(
        workflow,
        actions=[
            ("STATUS", {"status": "FOLLOW"}),
            ("INTEGRATION", {"endpoint": "Partner CRM"}),
            ("FIELD", {"field": "called_count", "op": "add", "value": "1"}),
            ("HOPPER", {}),
        ],
        delay_mode="fixed",
        delay_days="1",
        position="1",
    )
    response = admin_client_.post(url, data)
    assert response.status_code == 302, errors_of(response)
    assert response["Location"].endswith(
        reverse("admin:automation_workflow_change", args=[workflow.pk]) + "#tab-actions"
    )
    action_set = ActionSet.objects.get(workflow=workflow, position=1)
    assert [(a.type, a.config) for a in action_set.actions.order_by("position")] == [
        ("STATUS", {"status": "FOLLOW"}),
        ("INTEGRATION", {"endpoint": endpoint.pk}),  # stored by id, shown by name
        ("FIELD", {"field": "called_count", "op": "add", "value": "1"}),
        ("HOPPER", {"priority": 50}),
    ]


@pytest.mark.parametrize(
    ("action", "field", "message"),
    [
        (("STATUS", {}), "STATUS__status", "is required"),
        (("STATUS", {"status": "NOPE"}), "STATUS__status", "Select a valid choice"),
        (
            ("FIELD", {"field": "called_count", "op": "divide", "value": "0"}),
            "FIELD__value",
            "cannot divide by zero",
        ),
        (
            ("FIELD", {"field": "id", "op": "set", "value": "1"}),
            "FIELD__field",
            "'id' cannot be set",
        ),
        (("SMS", {"message": "Hi {call.nope}"}), "SMS__message", "Unknown placeholder {call.nope}"),
        (("INTEGRATION", {}), "INTEGRATION__endpoint", "is required"),
    ],
)
def test_it_shows_an_action_error_next_to_its_field(
    admin_client_, make_workflow, action, field, message
):
    workflow = make_workflow()
    response = admin_client_.post(
        reverse("admin:automation_actionset_add"), action_set_data(workflow, actions=[action])
    )
    assert response.status_code == 200
    errors = errors_of(response)
    assert message in " ".join(errors.get(f"actions-0-{field}", [])), errors
    assert ActionSet.objects.filter(workflow=workflow).count() == 1


def test_it_edits_an_existing_action_with_its_values_shown(admin_client_, make_workflow):
    workflow = make_workflow(actions=[("FIELD", {"field": "state", "op": "set", "value": "CA"})])
    action_set = workflow.action_sets.get()
    url = reverse("admin:automation_actionset_change", args=[action_set.pk])
    html = admin_client_.get(url).content.decode()
    assert 'name="actions-0-FIELD__field" value="state"' in html
    action = Action.objects.get()
    data = action_set_data(
        workflow, actions=[("FIELD", {"field": "state", "op": "set", "value": "NV"})]
    )
    data.update(
        {
            "actions-INITIAL_FORMS": "1",
            "actions-0-id": str(action.pk),
            "actions-0-action_set": str(action_set.pk),
        }
    )
    response = admin_client_.post(url, data)
    assert response.status_code == 302, errors_of(response)
    action.refresh_from_db()
    assert action.config == {"field": "state", "op": "set", "value": "NV"}


def test_it_labels_integration_as_the_convoso_connect_action(admin_client_, make_workflow):
    workflow = make_workflow()
    html = admin_client_.get(
        reverse("admin:automation_actionset_add") + f"?workflow={workflow.pk}"
    ).content.decode()
    assert '<option value="INTEGRATION">Integration</option>' in html
    assert "Integration is the Convoso Connect action" in html


def test_the_actions_tab_links_each_set_to_its_actions(admin_client_, make_workflow):
    workflow = make_workflow()
    html = admin_client_.get(
        reverse("admin:automation_workflow_change", args=[workflow.pk])
    ).content.decode()
    action_set = workflow.action_sets.get()
    assert reverse("admin:automation_actionset_change", args=[action_set.pk]) in html
    assert "Status Change: status=FOLLOW" in html
    assert reverse("admin:automation_actionset_add") + f"?workflow={workflow.pk}" in html


def test_a_workflow_with_its_campaign_deleted_still_opens(
    admin_client_, make_workflow, other_campaign
):
    workflow = make_workflow()
    workflow.campaigns.add(other_campaign)
    Campaign.objects.filter(pk=other_campaign.pk).delete()
    assert (
        admin_client_.get(
            reverse("admin:automation_workflow_change", args=[workflow.pk])
        ).status_code
        == 200
    )


def test_a_reference_dropdown_offers_every_object(db):
    """No silent cap: a stored reference past the first thousand stays choosable."""
    from automation.admin.forms import ActionForm
    from leads.models import EmailTemplate

    EmailTemplate.objects.bulk_create(
        EmailTemplate(name=f"T{n:04d}", subject="Hi", body="Hello") for n in range(1_001)
    )
    form = ActionForm.with_schema_fields()()
    choices = [value for value, _ in form.fields["EMAIL__template"].choices]
    assert "T1000" in choices and len([c for c in choices if c]) == 1_001
