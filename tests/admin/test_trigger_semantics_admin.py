"""The admin side of SPEC C.4: "is"/"becomes" next to the operator, re-enrollment,
impossible condition sets refused, cycle warnings shown after a save."""

from django.contrib.messages import get_messages
from django.urls import reverse

from automation.admin.forms import EventConditionForm
from automation.document import document
from automation.models import Workflow
from tests.admin.forms import action_set_data, workflow_data
from tests.admin.test_workflow_editor import errors_of

ADD = reverse("admin:automation_workflow_add")


def test_the_when_choice_sits_next_to_the_operator(admin_client_):
    fieldsets = dict(EventConditionForm.with_schema_fields().fieldsets([]))
    for label, first in (
        ("Call Count settings", ["CALL_COUNT__operator", "CALL_COUNT__when"]),
        ("Lead Fields & Call Data settings", ["LEAD_FIELDS__field", "LEAD_FIELDS__operator"]),
        ("Submitted By settings", ["SUBMITTED_BY__when"]),
    ):
        fields = fieldsets[label]["fields"]
        assert fields[: len(first)] == first
    assert fieldsets["Lead Fields & Call Data settings"]["fields"][2] == "LEAD_FIELDS__when"
    html = admin_client_.get(ADD).content.decode()
    assert 'type="radio" name="events-__prefix__-CALL_COUNT__when" value="becomes"' in html
    assert "becomes (only when this occurrence made it so)" in html


def test_it_saves_becomes_and_reenrollment(admin_client_, statuses):
    data = workflow_data(
        events=[
            (
                "LEAD_FIELDS",
                {"field": "state", "operator": "equals", "value": "CA", "when": "becomes"},
            )
        ],
        reenrollment="once_per_days",
        reenroll_after_days="30",
    )
    response = admin_client_.post(ADD, data)
    assert response.status_code == 302, errors_of(response)
    workflow = Workflow.objects.get()
    assert (workflow.reenrollment, workflow.reenroll_after_days) == ("once_per_days", 30)
    assert workflow.events.get().config["when"] == "becomes"


def test_it_asks_for_the_days_of_once_per_days(admin_client_, statuses):
    data = workflow_data(events=[("CALLBACK", {})], reenrollment="once_per_days")
    response = admin_client_.post(ADD, data)
    assert errors_of(response)["reenroll_after_days"] == ["Give the number of days (1–3650)."]


def test_it_refuses_conditions_no_occurrence_carries_together(admin_client_, statuses):
    data = workflow_data(events=[("DISPOSITION", {"values": ["SALE"]}), ("CALLBACK", {})])
    response = admin_client_.post(ADD, data)
    assert response.status_code == 200
    [formset] = [
        f.formset for f in response.context["inline_admin_formsets"] if f.formset.prefix == "events"
    ]
    first, second = formset.non_form_errors()
    assert first.startswith("event 1: cannot match together with event 2 (Callback)")
    assert second.startswith("event 2: cannot match together with event 1 (Disposition)")
    assert not Workflow.objects.exists()


def test_it_warns_about_a_cycle_after_a_save(admin_client_, statuses):
    a = document.save(
        {
            "name": "A",
            "all_campaigns": True,
            "events": [{"type": "LEAD_STATUS", "to": ["NEW"]}],
            "action_sets": [{"actions": [{"type": "STATUS", "config": {"status": "FOLLOW"}}]}],
        }
    )
    b = document.save(
        {
            "name": "B",
            "all_campaigns": True,
            "events": [{"type": "LEAD_STATUS", "to": ["FOLLOW"]}],
            "action_sets": [{"actions": []}],
        }
    )
    action_set = b.action_sets.get()
    url = reverse("admin:automation_actionset_change", args=[action_set.pk])
    response = admin_client_.post(url, action_set_data(b, actions=[("STATUS", {"status": "NEW"})]))
    assert response.status_code == 302, errors_of(response)
    [message] = [str(m) for m in get_messages(response.wsgi_request) if m.level_tag == "warning"]
    assert message.startswith("Cycle: B → A → B.")
    assert a.pk


def test_the_dry_run_page_explains_becomes_with_the_values_before(admin_client_, make_lead):
    workflow = document.save(
        {
            "name": "Became CA",
            "all_campaigns": True,
            "events": [
                {
                    "type": "LEAD_FIELDS",
                    "field": "state",
                    "operator": "equals",
                    "value": "CA",
                    "when": "becomes",
                }
            ],
        }
    )
    lead = make_lead(state="CA")
    url = reverse("admin:automation_workflow_dry_run", args=[workflow.pk])
    unchanged = admin_client_.get(url, {"lead": lead.pk}).context["report"]
    assert unchanged["outcome"] == "no_match"
    assert "changed nothing it reads" in unchanged["conditions"][0]["why"]
    response = admin_client_.get(url, {"lead": lead.pk, "previous": "state=NV"})
    report = response.context["report"]
    assert report["outcome"] == "fired"
    assert "it became true" in report["conditions"][0]["why"]
    assert "it became true" in response.content.decode()
    bad = admin_client_.get(url, {"lead": lead.pk, "previous": "state"})
    assert bad.context["form"].errors["previous"] == ["'state' is not field=value."]
