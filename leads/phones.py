"""Phone numbers: E.164 normalisation and the time zone a number implies."""

import phonenumbers
from django.conf import settings
from phonenumbers import timezone as phone_timezone

DEFAULT_REGION = "US"


class InvalidPhone(ValueError):
    pass


def to_e164(raw):
    """Return `raw` as E.164 (`+13105550123`), or raise InvalidPhone saying why."""
    text = str(raw or "").strip()
    if not text:
        raise InvalidPhone("Enter a phone number.")
    try:
        number = phonenumbers.parse(text, DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"{text!r} is not a phone number ({exc._msg}).") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(f"{text!r} is not a valid phone number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def zone_for(e164):
    """The IANA zone of a number's area, else the account default (TIME_ZONE).

    Where a number's area spans several zones, phonenumbers lists them in
    order; the first is the best single guess.
    """
    try:
        zones = phone_timezone.time_zones_for_number(phonenumbers.parse(e164, DEFAULT_REGION))
    except phonenumbers.NumberParseException:
        zones = ()
    zones = [z for z in zones if z != phone_timezone.UNKNOWN_TIMEZONE]
    return zones[0] if zones else settings.TIME_ZONE
