"""Declarative config schemas: one validation for the admin, the API and import.

Each event type and action type declares its `config` as a `Schema` of named
fields. `Schema.validate(config, path)` returns the cleaned config or raises
`ConfigError` whose `errors` map the path of each bad value
(`action_sets[0].actions[1].config.status`) to a message. Each field also
knows its admin form field (`form_field()`), so the editor shows real inputs
(dropdowns of statuses, lists, templates …) generated from the same schema.
"""

import copy
from decimal import Decimal, InvalidOperation

from django import forms


class ConfigError(Exception):
    """Bad configuration. `errors`: {path: message}."""

    def __init__(self, errors):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{p}: {m}" for p, m in self.errors.items()))

    @classmethod
    def at(cls, path, message):
        return cls({path: message})


def join(path, key):
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


MISSING = object()


class Field:
    """One config key. Subclasses implement `clean(value, path)`."""

    form_class = forms.CharField

    def __init__(self, required=True, default=MISSING, label="", help_text=""):
        self.required = required
        self.default = default
        self.label = label
        self.help_text = help_text

    def clean(self, value, path):
        return value

    def form_field(self, name):
        kwargs = {
            "required": self.required and self.default is MISSING,
            "label": self.label or name.replace("_", " ").capitalize(),
            "help_text": self.help_text,
            **self.form_kwargs(),
        }
        return self.form_class(**kwargs)

    def form_kwargs(self):
        return {}

    def form_initial(self, value):
        """The config value as the form field's initial value."""
        return value

    def from_form(self, value):
        """The form field's cleaned value as the raw config value (validated after)."""
        return value


class Str(Field):
    def __init__(self, max_length=500, blank=False, check=None, **kw):
        super().__init__(**kw)
        self.max_length = max_length
        self.blank = blank
        self.check = check

    def clean(self, value, path):
        if not isinstance(value, str):
            raise ConfigError.at(path, f"must be a string, not {type(value).__name__}")
        value = value.strip()
        if not value and not self.blank:
            raise ConfigError.at(path, "may not be blank")
        if len(value) > self.max_length:
            raise ConfigError.at(path, f"is longer than {self.max_length} characters")
        if self.check and value:
            try:
                self.check(value)
            except Exception as exc:  # the check's message is the error
                message = getattr(exc, "messages", None) or [str(exc)]
                raise ConfigError.at(path, " ".join(message)) from None
        return value

    def form_kwargs(self):
        return {"max_length": self.max_length}

    def from_form(self, value):
        return value or ""


class Text(Str):
    form_class = forms.CharField

    def form_kwargs(self):
        return {"widget": forms.Textarea(attrs={"rows": 3})}


class Int(Field):
    form_class = forms.IntegerField

    def __init__(self, min=None, max=None, **kw):
        super().__init__(**kw)
        self.min, self.max = min, max

    def clean(self, value, path):
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ConfigError.at(path, f"must be a whole number, not {value!r}")
        try:
            number = int(value)
        except ValueError:
            raise ConfigError.at(path, f"must be a whole number, not {value!r}") from None
        if self.min is not None and number < self.min:
            raise ConfigError.at(path, f"must be at least {self.min}")
        if self.max is not None and number > self.max:
            raise ConfigError.at(path, f"must be at most {self.max}")
        return number

    def form_kwargs(self):
        return {"min_value": self.min, "max_value": self.max}


class Dec(Field):
    """A decimal amount, stored as a string so no precision is lost."""

    form_class = forms.DecimalField

    def __init__(self, min=None, **kw):
        super().__init__(**kw)
        self.min = min

    def clean(self, value, path):
        if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
            raise ConfigError.at(path, f"must be a number, not {value!r}")
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ConfigError.at(path, f"must be a number, not {value!r}") from None
        if not number.is_finite():
            raise ConfigError.at(path, "must be a finite number")
        if self.min is not None and number < self.min:
            raise ConfigError.at(path, f"must be at least {self.min}")
        return str(number)

    def form_kwargs(self):
        return {"max_digits": 12, "decimal_places": 2}

    def from_form(self, value):
        return None if value is None else str(value)


class Bool(Field):
    form_class = forms.BooleanField

    def __init__(self, **kw):
        kw.setdefault("required", False)
        kw.setdefault("default", False)
        super().__init__(**kw)

    def clean(self, value, path):
        if not isinstance(value, bool):
            raise ConfigError.at(path, f"must be true or false, not {value!r}")
        return value

    def form_field(self, name):
        field = super().form_field(name)
        field.required = False
        return field


class Choice(Field):
    """One of fixed codes (a TextChoices or a list of (code, label))."""

    form_class = forms.ChoiceField

    def __init__(self, choices, **kw):
        super().__init__(**kw)
        self.choices = list(getattr(choices, "choices", choices))

    def codes(self):
        return [c for c, _ in self.choices]

    def clean(self, value, path):
        if value not in self.codes():
            raise ConfigError.at(path, f"must be one of {', '.join(self.codes())}, not {value!r}")
        return value

    def form_kwargs(self):
        blank = [] if self.required else [("", "---------")]
        return {"choices": blank + self.choices}


class MultiChoice(Choice):
    """A non-empty list of fixed codes."""

    form_class = forms.MultipleChoiceField

    def clean(self, value, path):
        if not isinstance(value, list):
            raise ConfigError.at(path, "must be a list")
        if self.required and not value:
            raise ConfigError.at(path, "pick at least one")
        for i, item in enumerate(value):
            Choice.clean(self, item, join(path, i))
        return list(dict.fromkeys(value))

    def form_kwargs(self):
        return {"choices": self.choices}


class Ref(Field):
    """The natural key of an object: a status code, a list name, an endpoint name …"""

    form_class = forms.ChoiceField

    def __init__(self, model, key="name", **kw):
        super().__init__(**kw)
        self.model_path = model
        self.key = key

    @property
    def model(self):
        from django.apps import apps

        return apps.get_model(self.model_path)

    def existing(self, values):
        return set(
            self.model.objects.filter(**{f"{self.key}__in": values}).values_list(
                self.key, flat=True
            )
        )

    def clean(self, value, path):
        if not isinstance(value, str) or not value:
            raise ConfigError.at(path, f"must be the {self.key} of a {self.model_name()}")
        if value not in self.existing([value]):
            raise ConfigError.at(path, f"no {self.model_name()} with {self.key} {value!r}")
        return value

    def model_name(self):
        return self.model._meta.verbose_name

    def form_kwargs(self):
        blank = [] if self.required else [("", "---------")]
        return {"choices": lambda: blank + [(k, str(o)) for k, o in self.objects()]}

    def objects(self):
        return [(getattr(o, self.key), o) for o in self.model.objects.all()[:1000]]


class RefList(Ref):
    form_class = forms.MultipleChoiceField

    def clean(self, value, path):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError.at(path, f"must be a list of {self.model_name()} {self.key}s")
        if self.required and not value:
            raise ConfigError.at(path, "pick at least one")
        found = self.existing(value)
        for i, item in enumerate(value):
            if item not in found:
                raise ConfigError.at(
                    join(path, i), f"no {self.model_name()} with {self.key} {item!r}"
                )
        return list(dict.fromkeys(value))

    def form_kwargs(self):
        return {"choices": lambda: [(k, str(o)) for k, o in self.objects()]}


class StrList(Field):
    """A list of strings (usernames, sources, free values)."""

    form_class = forms.CharField

    def clean(self, value, path):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str | int | float) for v in value):
            raise ConfigError.at(path, "must be a list of values")
        if self.required and not value:
            raise ConfigError.at(path, "give at least one value")
        return [str(v) for v in value]

    def form_kwargs(self):
        return {"help_text": self.help_text or "Comma-separated."}

    def form_initial(self, value):
        return ", ".join(value or [])


class Any(Field):
    """A scalar comparison value: string or number (operators are type-aware)."""

    def clean(self, value, path):
        if isinstance(value, dict | list):
            raise ConfigError.at(path, "must be a single value, not a list or object")
        return value

    def from_form(self, value):
        return value


class Raw(Field):
    """Passed through as it is, for a dedicated check after (nested lists and objects)."""


class Schema:
    """Named fields plus an optional cross-field `check(cleaned, path)`."""

    def __init__(self, fields=None, check=None):
        self.fields = fields or {}
        self.check = check

    def validate(self, config, path="config"):
        if config is None:
            config = {}
        if not isinstance(config, dict):
            raise ConfigError.at(path, "must be an object")
        errors = {}
        unknown = sorted(set(config) - set(self.fields))
        for key in unknown:
            errors[join(path, key)] = "unknown key"
        cleaned = {}
        for name, field in self.fields.items():
            value = config.get(name, MISSING)
            if value is MISSING or value is None or value == "" and not isinstance(field, Str):
                if field.default is not MISSING:
                    cleaned[name] = copy.deepcopy(field.default)
                elif field.required:
                    errors[join(path, name)] = "is required"
                continue
            try:
                cleaned[name] = field.clean(value, join(path, name))
            except ConfigError as exc:
                errors.update(exc.errors)
        if not errors and self.check:
            try:
                self.check(cleaned, path)
            except ConfigError as exc:
                errors.update(exc.errors)
        if errors:
            raise ConfigError(errors)
        return cleaned
