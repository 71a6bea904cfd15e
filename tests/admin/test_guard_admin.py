"""The send-time guard's admin: calling rules (a line per weekday, clear field errors),
contact policies, and the dry run page's send-time checks."""

import importlib

from django.urls import reverse

from automation.models import CallingRule, ContactPolicy
from leads.models import DncEntry

ADD_RULE = reverse("admin:automation_callingrule_add")
ADD_POLICY = reverse("admin:automation_contactpolicy_add")


def rule_form(**fields):
    data = {"name": "", "active": "on", "state": "", "timezone": "", "blocked_dates_text": ""}
    data.update({f"day_{d}": "" for d in range(7)})
    data.update(fields)
    return data


def test_it_saves_a_calling_rule_from_a_line_per_weekday(admin_client_):
    response = admin_client_.post(
        ADD_RULE,
        rule_form(
            name="Texas", state="tx", day_6="12:00-21:00", day_0="closed",
            blocked_dates_text="2026-12-25\n2027-01-01",
        ),
    )  # fmt: skip
    assert response.status_code == 302, response.context["adminform"].form.errors
    rule = CallingRule.objects.get()
    assert (rule.state, rule.hours) == ("TX", {"6": ["12:00", "21:00"], "0": None})
    assert rule.blocked_dates == ["2026-12-25", "2027-01-01"]
    page = admin_client_.get(reverse("admin:automation_callingrule_change", args=[rule.pk]))
    html = page.content.decode()
    assert 'value="12:00-21:00"' in html and 'value="closed"' in html
    listing = admin_client_.get(reverse("admin:automation_callingrule_changelist")).content
    assert "Mon closed, Sun 12:00–21:00" in listing.decode()


def test_it_shows_each_problem_on_its_field(admin_client_):
    response = admin_client_.post(
        ADD_RULE,
        rule_form(state="TX", timezone="America/Chicago", day_2="9-5", day_3="18:00-09:00",
                  blocked_dates_text="christmas"),
    )  # fmt: skip
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "exactly one" in errors["state"][0]
    assert "'9' is not a time HH:MM" in errors["day_2"][0]
    assert "must come before the end" in errors["day_3"][0]
    assert "'christmas' is not an ISO date" in errors["blocked_dates_text"][0]
    assert not CallingRule.objects.exists()


def test_it_keeps_one_default_contact_policy_per_channel(admin_client_):
    data = {"channel": "sms", "max_per_24h": "1", "max_per_7d": "", "over_budget": "defer"}
    assert admin_client_.post(ADD_POLICY, data).status_code == 302
    response = admin_client_.post(ADD_POLICY, data)
    assert response.status_code == 200
    assert "already a default policy for sms" in str(response.context["adminform"].form.errors)
    assert ContactPolicy.objects.count() == 1


def test_the_dry_run_page_shows_the_send_time_checks(admin_client_, make_workflow, make_lead):
    workflow = make_workflow(actions=[("SMS", {"message": "Hi"}), ("STATUS", {"status": "NEW"})])
    lead = make_lead()
    DncEntry.add(lead.phone_number)
    url = reverse("admin:automation_workflow_dry_run", args=[workflow.pk])
    html = admin_client_.get(url, {"lead": lead.pk}).content.decode()
    assert "Send-time checks (if each action ran now)" in html
    assert f"DNC: {lead.phone_number} is on the global DNC list" in html
    assert "would be skipped" in html and "would run now" in html
    assert "contact_budget" in html and "calling_rules" in html


def test_viewers_see_the_guards_settings_without_changing_them(viewer, login):
    from django.apps import apps

    importlib.import_module("automation.migrations.0011_guard_group_permissions").grant(apps)
    CallingRule.objects.create(state="TX")
    client = login(viewer)
    listing = client.get(reverse("admin:automation_callingrule_changelist"))
    assert listing.status_code == 200
    assert client.post(ADD_RULE, rule_form(state="FL")).status_code == 403
