"""The lead's edit page: its workflow log and pending actions, with a flush button."""

from django.urls import reverse

from automation.constants import EntryState
from automation.models import LogEntry


def test_the_lead_page_shows_its_log_and_pending_actions(
    admin_client_, make_lead, make_workflow, make_entry
):
    workflow = make_workflow(name="Sale follow-up")
    lead, other = make_lead(), make_lead()
    pending = make_entry(lead, workflow)
    done = make_entry(lead, workflow, state=EntryState.SUCCEEDED, reason="status set to FOLLOW")
    make_entry(other, workflow)
    response = admin_client_.get(reverse("admin:leads_lead_change", args=[lead.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Workflow log (newest 50)" in html and "Pending workflow actions" in html
    assert "status set to FOLLOW" in html
    for entry in (pending, done):
        assert reverse("admin:automation_logentry_change", args=[entry.pk]) in html
    inlines = {i.opts.__class__.__name__: i for i in response.context["inline_admin_formsets"]}
    assert [f.instance.pk for f in inlines["LeadPendingInline"].formset.forms] == [pending.pk]
    assert {f.instance.pk for f in inlines["LeadLogInline"].formset.forms} == {pending.pk, done.pk}
    assert "CallInline" in inlines and "HopperEntryInline" in inlines
    assert f"{reverse('admin:automation_logentry_flush')}?lead={lead.pk}" in html


def test_the_lead_flush_button_flushes_that_lead_only(
    admin_client_, make_lead, make_workflow, make_entry
):
    workflow = make_workflow()
    lead, other = make_lead(), make_lead()
    mine, theirs = make_entry(lead, workflow), make_entry(other, workflow)
    url = reverse("admin:automation_logentry_flush")
    confirm = admin_client_.get(url, {"lead": lead.pk})
    assert "1 pending action for 1 lead will be flushed" in confirm.content.decode()
    back = reverse("admin:leads_lead_change", args=[lead.pk])
    response = admin_client_.post(url, {"lead": lead.pk, "post": "yes", "next": back})
    assert response["Location"] == back
    assert LogEntry.objects.get(pk=mine.pk).state == EntryState.FLUSHED
    assert LogEntry.objects.get(pk=theirs.pk).state == EntryState.PENDING


def test_saving_the_lead_leaves_its_log_alone(admin_client_, make_lead, make_workflow, make_entry):
    workflow = make_workflow()
    lead = make_lead()
    entry = make_entry(lead, workflow)
    url = reverse("admin:leads_lead_change", args=[lead.pk])
    page = admin_client_.get(url)
    data = {}
    for form in [page.context["adminform"].form]:
        for name in form.fields:
            value = form[name].value()
            if value is None:
                continue
            data[name] = value if not isinstance(value, bool) else ("on" if value else "")
    for inline in page.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
        for form in inline.formset.initial_forms:
            data[form.add_prefix("id")] = form.instance.pk
    data = {k: v for k, v in data.items() if v != ""}
    response = admin_client_.post(url, data)
    assert response.status_code == 302, response.context and response.context["errors"]
    assert LogEntry.objects.get(pk=entry.pk).state == EntryState.PENDING
