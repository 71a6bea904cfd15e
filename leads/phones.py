"""Phone numbers: E.164 normalisation and the time zone a number implies."""

import functools

import phonenumbers
from django.conf import settings
from phonenumbers import timezone as phone_timezone
from phonenumbers.tzdata import TIMEZONE_DATA

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


# A split area code lists its zones alphabetically; these are never the
# better guess (Adak is a few hundred people of Alaska's 907).
UNLIKELY_ZONES = {"America/Adak"}


def zone_for(e164):
    """The IANA zone of a number's area, or "" when the number implies none.

    One zone: that zone. An area split over a few zones: the account's zone if
    it is one of them, else the likeliest. A non-geographic number (toll-free
    numbers list every North American zone): "", so the lead follows the
    account default (TIME_ZONE) as it is when read, also after it changes.
    """
    try:
        zones = phone_timezone.time_zones_for_number(phonenumbers.parse(e164, DEFAULT_REGION))
    except phonenumbers.NumberParseException:
        zones = ()
    zones = [z for z in zones if z != phone_timezone.UNKNOWN_TIMEZONE]
    if len(zones) == 1:
        return zones[0]
    if not zones or len(zones) > 3:
        return ""
    if settings.TIME_ZONE in zones:
        return settings.TIME_ZONE
    likely = [z for z in zones if z not in UNLIKELY_ZONES]
    return (likely or zones)[0]


@functools.cache
def north_american_zones():
    """The zones numbers of the North American plan (+1) imply."""
    return frozenset(
        zone for prefix, zones in TIMEZONE_DATA.items() if prefix.startswith("1") for zone in zones
    ) - {phone_timezone.UNKNOWN_TIMEZONE}
