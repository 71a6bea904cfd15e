"""The base of every API FilterSet: query parameters read through crm.validation.

- Every parameter a FilterSet declares is checked as raw text first: a NUL or
  a lone surrogate is a form error naming the parameter, before any field
  (a status code lookup, say) could send it to the database.
- `IdFilter`: ids as ASCII whole numbers within the BigAutoField range.
- `DateTimeFilter`: ISO 8601 datetimes within crm.validation's date range.
- A JSON body used as filter data (`workflow-logs/flush/`) is read as
  strings, so `{"created_after": 0}` is an invalid date, not a crash.

`FilterBackend` (REST_FRAMEWORK's DEFAULT_FILTER_BACKENDS) builds the
FilterSets of `filterset_fields` on this base too.
"""

import django_filters
from django import forms
from django.utils.datastructures import MultiValueDict
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend

from crm.validation import Invalid, check_datetime, parse_id, text_problem

NOT_TEXT = object()  # a JSON value that is no query parameter (an object, a nested list)


def as_query_data(data):
    """A JSON object as query-string-like data: scalars as strings, lists as repeated values."""
    if data is None or hasattr(data, "getlist"):
        return data
    converted = MultiValueDict()
    for key, value in data.items():
        values = value if isinstance(value, list) else [value]
        converted.setlist(str(key), [_as_text(v) for v in values if v is not None])
    return converted


def _as_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return NOT_TEXT


class CheckedForm(forms.Form):
    """Raw values checked before the fields see them (see the module docstring)."""

    def full_clean(self):
        bad = {}
        if self.is_bound:
            for name in self.fields:
                values = self.data.getlist(name) if hasattr(self.data, "getlist") else []
                for value in values:
                    problem = "must be text" if value is NOT_TEXT else text_problem(value)
                    if problem:
                        bad[name] = problem
                        break
        if bad:
            data = MultiValueDict(dict(self.data.lists()))
            for name in bad:
                data.pop(name)
            self.data = data
        super().full_clean()
        for name, problem in bad.items():
            self.add_error(name, problem)


class FilterSet(django_filters.FilterSet):
    def __init__(self, data=None, *args, **kwargs):
        super().__init__(as_query_data(data), *args, **kwargs)

    def get_form_class(self):
        form_class = super().get_form_class()
        return type(form_class.__name__, (CheckedForm, form_class), {})


def invalid(exc):
    """The form error of an Invalid. Its message quotes the input, which may hold a
    `%`: django-filters formats every message with its params (none here), so the
    message goes in as a param."""
    return forms.ValidationError("%(message)s", params={"message": exc.message})


class IdField(forms.Field):
    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return parse_id(value, "")
        except Invalid as exc:
            raise invalid(exc) from None


class IdFilter(django_filters.Filter):
    """A database id (`?lead=42`)."""

    field_class = IdField


class CheckedIsoDateTimeField(IsoDateTimeField):
    def to_python(self, value):
        result = super().to_python(value)
        if result is not None:
            try:
                check_datetime(result, "")
            except Invalid as exc:
                raise invalid(exc) from None
        return result


class DateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 datetime within MIN_DATE … MAX_DATE."""

    field_class = CheckedIsoDateTimeField


class FilterBackend(DjangoFilterBackend):
    filterset_base = FilterSet
