import pytest
from django.core.exceptions import ValidationError

from leads.models import Lead


def test_it_stores_phone_numbers_as_e164(make_lead):
    lead = make_lead(phone_number="(310) 555-0123")
    lead.refresh_from_db()
    assert lead.phone_number == "+13105550123"


def test_it_derives_the_time_zone_from_the_phone_number(make_lead):
    assert make_lead(phone_number="+16025551234").timezone == "America/Phoenix"
    assert make_lead(phone_number="+12125550199").timezone == "America/New_York"


def test_it_keeps_an_explicit_time_zone(make_lead):
    assert (
        make_lead(phone_number="+12125550199", timezone="America/Denver").timezone
        == "America/Denver"
    )


def test_it_rejects_an_invalid_phone_in_clean(lead_list, statuses):
    lead = Lead(list=lead_list, phone_number="12345")
    with pytest.raises(ValidationError) as exc:
        lead.full_clean()
    assert "phone_number" in exc.value.message_dict


def test_it_normalises_the_alt_phone(make_lead):
    lead = make_lead(alt_phone="312.555.0142")
    lead.refresh_from_db()
    assert lead.alt_phone == "+13125550142"


@pytest.mark.parametrize("phone", ["+80012345678", "+18005550199"])
def test_it_follows_the_account_zone_when_the_number_has_none(make_lead, settings, phone):
    # International freephone (+800) has no zone; toll-free lists them all.
    settings.TIME_ZONE = "America/Chicago"
    lead = make_lead(phone_number=phone)
    lead.refresh_from_db()
    assert lead.timezone == ""  # not a copy of today's account zone
    assert str(lead.zone) == "America/Chicago"
    settings.TIME_ZONE = "America/Denver"  # the account moves: the lead follows
    lead.save()
    lead.refresh_from_db()
    assert str(lead.zone) == "America/Denver"


def test_it_picks_the_likeliest_zone_of_a_split_area(make_lead, settings):
    settings.TIME_ZONE = "America/Chicago"
    assert make_lead(phone_number="+19075550100").timezone == "America/Anchorage"


def test_it_rejects_an_unknown_time_zone_in_clean(lead_list, statuses):
    lead = Lead(list=lead_list, phone_number="+13105550123", timezone="Mars/Olympus_Mons")
    with pytest.raises(ValidationError) as exc:
        lead.full_clean()
    assert "timezone" in exc.value.message_dict


def test_it_reports_the_fields_changed_since_loading(make_lead, statuses):
    lead = Lead.objects.get(pk=make_lead().pk)
    lead.city = "Fresno"
    lead.status = statuses["SALE"]
    assert lead.changed_fields() == {"city", "status"}


def test_a_refreshed_lead_does_not_report_stale_changes(make_lead, statuses):
    lead = make_lead(status=statuses["NEW"])
    from leads.models import Lead

    Lead.objects.filter(pk=lead.pk).update(status=statuses["SALE"])
    lead.refresh_from_db()
    assert lead.changed_fields() == set()


def test_a_custom_field_changed_in_place_counts_as_changed(make_lead):
    lead = make_lead(custom_fields={"plan": "basic"})
    lead.custom_fields["plan"] = "gold"
    assert lead.changed_fields() == {"custom_fields"}


def test_a_stored_number_that_no_longer_validates_does_not_block_saves(make_lead):
    from leads.models import Lead

    lead = make_lead()
    Lead.objects.filter(pk=lead.pk).update(phone_number="+1310000123")
    lead = Lead.objects.get(pk=lead.pk)
    lead.first_name = "Grace"
    lead.save()
    lead.refresh_from_db()
    assert (lead.first_name, lead.phone_number) == ("Grace", "+1310000123")


def test_save_changes_writes_only_what_changed(make_lead):
    lead = make_lead(first_name="Ada", last_name="Lovelace", custom_fields={"n": 1})
    mine, theirs = Lead.objects.get(pk=lead.pk), Lead.objects.get(pk=lead.pk)
    theirs.last_name = "Byron"
    theirs.save()
    mine.first_name = "Augusta"
    mine.custom_fields["n"] = 2  # changed in place: still a change
    mine.save_changes()
    lead.refresh_from_db()
    assert (lead.first_name, lead.last_name, lead.custom_fields) == ("Augusta", "Byron", {"n": 2})
    assert lead.modified_at > theirs.modified_at


def test_save_changes_normalises_a_new_phone_and_its_zone(make_lead):
    lead = Lead.objects.get(pk=make_lead(phone_number="+13105550100").pk)
    assert lead.timezone == "America/Los_Angeles"
    lead.phone_number = "(212) 555-0100"
    lead.save_changes()
    lead.refresh_from_db()
    assert (lead.phone_number, lead.timezone) == ("+12125550100", "America/New_York")
