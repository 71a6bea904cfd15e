"""In a real browser: declare a custom field, see a condition on a misspelt field refused,
build a condition on the declared one, and watch it fire (compared as a number)."""

import pytest
from django.contrib.auth.models import User

from automation.models import Trigger, Workflow
from leads.models import CustomField

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def boss(transactional_db):
    return User.objects.create_superuser("boss", "boss@example.com", "pw-boss-1")


def log_in(page, live_server):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "pw-boss-1")
    page.click("input[type=submit]")
    page.wait_for_selector("#content-main")


def show_tab(page, key):
    page.click(f"#tab-button-{key}")
    page.wait_for_selector(f"#tab-button-{key}.selected")


def condition_on(page, field, value):
    show_tab(page, "events")
    if not page.is_visible("#id_events-0-type"):
        page.click("#events-group .add-row a")
    page.select_option("#id_events-0-type", "LEAD_FIELDS")
    page.fill("#id_events-0-LEAD_FIELDS__field", field)
    page.select_option("#id_events-0-LEAD_FIELDS__operator", "greater_than")
    page.fill("#id_events-0-LEAD_FIELDS__value", value)
    page.click("input[name=_continue]")


def test_an_operator_declares_a_field_and_uses_it_in_a_condition(
    page, shoot, live_server, boss, make_lead
):
    log_in(page, live_server)

    page.goto(f"{live_server.url}/admin/leads/customfield/add/")
    page.fill("#id_name", "monthly_bill")
    page.fill("#id_label", "Monthly bill")
    page.select_option("#id_type", "number")
    shoot("custom-field-01-declare")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    assert CustomField.objects.get().type == "number"

    page.goto(f"{live_server.url}/admin/automation/workflow/add/")
    page.fill("#id_name", "Big bills")
    page.check("#id_all_campaigns")
    condition_on(page, "monthly_bil", "100")
    error = page.locator(".errorlist").first
    error.wait_for()
    assert "unknown field 'monthly_bil'" in page.content().replace("&#x27;", "'")
    shoot("custom-field-02-misspelt-refused")
    assert not Workflow.objects.exists()

    condition_on(page, "monthly_bill", "100")
    page.wait_for_selector(".messagelist .success")
    shoot("custom-field-03-condition-saved")
    workflow = Workflow.objects.get(name="Big bills")
    assert workflow.events.get().config["field"] == "monthly_bill"

    # Declared a number: "95" < 100 < "250", compared as numbers.
    small = make_lead(custom_fields={"monthly_bill": "95"})
    big = make_lead(custom_fields={"monthly_bill": "250"})
    small.save()
    big.save()
    fired = set(Trigger.objects.filter(workflow=workflow).values_list("lead_id", flat=True))
    assert fired == {big.pk}
