"""Every required choice of the admin starts blank and is refused when left blank.

A select with no blank option submits its first choice when nobody touches it:
a Status Change action saved as is stored "A – Answering machine".
"""

from django import forms
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from automation.admin.forms import ActionForm
from automation.models import ActionSet, Workflow
from tests.admin.forms import action_set_data, workflow_data
from tests.admin.test_workflow_editor import errors_of


def single_choice_fields(user):
    """(where, name, form field) of every one-of-many select of the leads and automation admin."""
    request = RequestFactory().get("/")
    request.user = user
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label not in ("leads", "automation"):
            continue
        form_classes = [(model.__name__, model_admin.get_form(request))]
        for inline in model_admin.get_inline_instances(request):
            form_classes.append(
                (f"{model.__name__} > {inline.model.__name__}", inline.get_formset(request).form)
            )
        for where, form_class in form_classes:
            for name, field in form_class().fields.items():
                if isinstance(field, forms.ChoiceField) and not isinstance(
                    field, forms.MultipleChoiceField | forms.ModelMultipleChoiceField
                ):
                    yield where, name, field


def test_every_select_starts_blank_or_at_its_declared_default(superuser, statuses, endpoint):
    wrong = []
    checked = 0
    for where, name, field in single_choice_fields(superuser):
        checked += 1
        values = [str(value) for value, _ in field.choices]
        if values[:1] == [""]:
            continue
        initial = field.initial() if callable(field.initial) else field.initial
        if initial is None or str(initial) not in values:
            wrong.append(f"{where}: {name} starts at {values[:1]} (no blank, no default)")
    assert checked > 40
    assert not wrong, "\n".join(wrong)


def test_the_status_dropdown_starts_blank(db, statuses):
    html = str(ActionForm()["STATUS__status"])
    assert '<option value="" selected>---------</option>' in html
    assert html.index('value=""') < html.index('value="A"')


def test_it_refuses_a_status_action_left_blank(admin_client_, make_workflow):
    workflow = make_workflow()
    for status in ("", None):  # the blank option a browser sends, or no value at all
        values = {"status": status} if status is not None else {}
        response = admin_client_.post(
            reverse("admin:automation_actionset_add"),
            action_set_data(workflow, actions=[("STATUS", values)], position="1"),
        )
        assert response.status_code == 200
        assert errors_of(response)["actions-0-STATUS__status"] == ["is required"]
    assert ActionSet.objects.filter(workflow=workflow).count() == 1


def test_it_refuses_a_reference_left_blank(admin_client_, make_workflow, endpoint):
    workflow = make_workflow()
    for action_type, field in (
        ("INTEGRATION", "endpoint"),
        ("MOVE", "list"),
        ("EMAIL", "template"),
    ):
        response = admin_client_.post(
            reverse("admin:automation_actionset_add"),
            action_set_data(workflow, actions=[(action_type, {field: ""})], position="1"),
        )
        assert response.status_code == 200
        errors = errors_of(response)
        assert errors[f"actions-0-{action_type}__{field}"] == ["is required"], errors


def test_it_refuses_an_event_operator_left_blank(admin_client_, statuses):
    data = workflow_data(events=[("CALL_COUNT", {"operator": "", "value": "3"})])
    response = admin_client_.post(reverse("admin:automation_workflow_add"), data)
    assert response.status_code == 200
    assert errors_of(response)["events-0-CALL_COUNT__operator"] == ["is required"]
    assert not Workflow.objects.exists()


def test_a_blank_choice_with_a_default_takes_the_default(admin_client_, make_workflow):
    workflow = make_workflow()
    response = admin_client_.post(
        reverse("admin:automation_actionset_add"),
        action_set_data(workflow, actions=[("DNC", {"scope": "", "phones": ""})], position="1"),
    )
    assert response.status_code == 302, errors_of(response)
    action = ActionSet.objects.get(workflow=workflow, position=1).actions.get()
    assert action.config["scope"] == "global" and action.config["phones"] == "primary"
