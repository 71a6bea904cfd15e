"""Call.record and Call.set_disposition: what a call does to its lead."""

from datetime import timedelta

from django.utils import timezone

from leads.models import Call


def test_it_bumps_the_called_count_and_last_called_time(make_lead, statuses):
    lead = make_lead()
    started = timezone.now() - timedelta(minutes=5)

    Call.record(lead=lead, started_at=started, disposition=statuses["NA"])
    Call.record(lead=lead, started_at=started + timedelta(minutes=1))

    lead.refresh_from_db()
    assert lead.called_count == 2
    assert lead.last_called_at == started + timedelta(minutes=1)


def test_it_sets_the_lead_status_to_the_disposition(make_lead, statuses):
    lead = make_lead(status=statuses["NEW"])

    Call.record(lead=lead, disposition=statuses["SALE"])

    lead.refresh_from_db()
    assert lead.status_id == "SALE"


def test_it_keeps_the_lead_status_for_a_call_without_disposition(make_lead, statuses):
    lead = make_lead(status=statuses["NEW"])

    call, _ = Call.record(lead=lead)

    lead.refresh_from_db()
    assert lead.status_id == "NEW"
    assert call.is_live


def test_it_fills_campaign_and_list_from_the_lead(make_lead, lead_list, campaign):
    call, _ = Call.record(lead=make_lead())

    call.refresh_from_db()
    assert (call.list_id, call.campaign_id) == (lead_list.pk, campaign.pk)


def test_it_records_an_external_id_once(make_lead, statuses):
    lead = make_lead()

    first, created = Call.record(lead=lead, external_id="dialer-1", disposition=statuses["NA"])
    again, created_again = Call.record(lead=lead, external_id="dialer-1", disposition=statuses["B"])

    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert Call.objects.filter(external_id="dialer-1").count() == 1
    lead.refresh_from_db()
    assert lead.called_count == 1
    assert lead.status_id == "NA"


def test_it_treats_a_blank_external_id_as_none(make_lead):
    lead = make_lead()

    Call.record(lead=lead, external_id="")
    Call.record(lead=lead, external_id="")

    assert Call.objects.filter(lead=lead, external_id__isnull=True).count() == 2


def test_set_disposition_returns_the_previous_one_and_moves_the_lead(make_lead, statuses):
    lead = make_lead()
    call, _ = Call.record(lead=lead, disposition=statuses["CALLBK"])

    previous = call.set_disposition(statuses["SALE"])

    assert previous == "CALLBK"
    call.refresh_from_db()
    lead.refresh_from_db()
    assert call.disposition_id == "SALE"
    assert lead.status_id == "SALE"
    assert lead.called_count == 1
