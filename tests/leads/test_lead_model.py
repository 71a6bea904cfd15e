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
