"""manage.py load_demo: a deterministic demo call center, loaded any number of times."""

import io

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command

from leads.models import Call, Lead, Status


def load_demo():
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    return out.getvalue()


def counts():
    return {
        model.__name__: model.objects.count() for model in apps.get_app_config("leads").get_models()
    }


def test_it_loads_the_demo_once(db):
    load_demo()
    first = counts()
    output = load_demo()

    assert counts() == first
    assert "created 0 users, 0 statuses" in output
    assert first["Lead"] == 200
    assert first["Call"] > 0


def test_it_spreads_leads_over_time_zones_with_valid_numbers(db):
    load_demo()

    zones = set(Lead.objects.values_list("timezone", flat=True))
    assert {"America/New_York", "America/Chicago", "America/Denver", "America/Phoenix",
            "America/Los_Angeles"} <= zones  # fmt: skip
    assert all(
        phone.startswith("+1") for phone in Lead.objects.values_list("phone_number", flat=True)
    )


def test_its_leads_reflect_their_calls(db):
    load_demo()

    for lead in Lead.objects.filter(called_count__gt=0):
        calls = list(Call.objects.filter(lead=lead).order_by("started_at"))
        assert lead.called_count == len(calls)
        assert lead.last_called_at == calls[-1].started_at
        assert lead.status_id == calls[-1].disposition_id


def test_it_creates_the_statuses_and_an_admin(db):
    load_demo()

    sale = Status.objects.get(code="SALE")
    assert (sale.reached, sale.contact, sale.sale, sale.final) == (True, True, True, True)
    assert Status.objects.get(code="A").voicemail
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("admin")
