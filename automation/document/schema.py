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

from crm.validation import Invalid, parse_code, shown, text_problem


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
        if problem := text_problem(value):
            raise ConfigError.at(path, problem)
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
            raise ConfigError.at(path, f"must be a whole number, not {shown(value)}")
        try:
            number = int(value)
        except ValueError:
            raise ConfigError.at(path, f"must be a whole number, not {shown(value)}") from None
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

    def __init__(self, min=None, max=Decimal("9999999999.99"), **kw):
        super().__init__(**kw)
        self.min, self.max = min, max

    def clean(self, value, path):
        if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
            raise ConfigError.at(path, f"must be a number, not {shown(value)}")
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ConfigError.at(path, f"must be a number, not {shown(value)}") from None
        if not number.is_finite():
            raise ConfigError.at(path, "must be a finite number")
        if self.min is not None and number < self.min:
            raise ConfigError.at(path, f"must be at least {self.min}")
        if self.max is not None and number > self.max:
            raise ConfigError.at(path, f"must be at most {self.max}")
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
            raise ConfigError.at(path, f"must be true or false, not {shown(value)}")
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
        try:
            return parse_code(value, self.choices, path)
        except Invalid as exc:
            raise ConfigError.at(path, exc.message) from None

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
        errors = {}
        for i, item in enumerate(value):  # every bad item at once
            try:
                Choice.clean(self, item, join(path, i))
            except ConfigError as exc:
                errors.update(exc.errors)
        if errors:
            raise ConfigError(errors)
        return list(dict.fromkeys(value))

    def form_kwargs(self):
        return {"choices": self.choices}


class Ref(Field):
    """A reference to an object: the document names it by its natural key (a status
    code, a list name, an endpoint name …); the stored config holds its id, so a
    rename breaks nothing (SPEC C.2). `clean` takes the key and gives the id;
    `show` gives back the object's current key."""

    form_class = forms.ChoiceField

    def __init__(self, model, key="name", **kw):
        super().__init__(**kw)
        self.model_path = model
        self.key = key

    @property
    def model(self):
        from django.apps import apps

        return apps.get_model(self.model_path)

    def by_key(self):
        """Whether the key is the id itself (statuses: the code is the primary key)."""
        return self.model._meta.pk.name == self.key

    def existing(self, values):
        """{key: id} of the objects named in `values`."""
        return dict(
            self.model.objects.filter(**{f"{self.key}__in": values}).values_list(self.key, "pk")
        )

    def clean(self, value, path):
        if not isinstance(value, str) or not value:
            raise ConfigError.at(path, f"must be the {self.key} of a {self.model_name()}")
        if problem := text_problem(value):
            raise ConfigError.at(path, problem)
        found = self.existing([value])
        if value not in found:
            raise ConfigError.at(path, f"no {self.model_name()} with {self.key} {value!r}")
        return found[value]

    def clean_stored(self, value, path):
        """A stored value checked again (the runner, a row's own validation): an id
        that still exists, or a key (a row written by hand) resolved to its id."""
        if isinstance(value, dict) and UNRESOLVED in value:
            raise ConfigError.at(
                path,
                f"no {self.model_name()} with {self.key} {value[UNRESOLVED]!r} "
                "(named before workflows referred to objects by id): pick one",
            )
        if self.by_key() or not is_id(value):
            return Ref.clean(self, value, path)
        if not self.model.objects.filter(pk=value).exists():
            raise ConfigError.at(path, f"the {self.model_name()} #{value} no longer exists")
        return value

    def stored_ids(self, value):
        """The ids a stored value refers to."""
        if self.by_key():
            return [value] if isinstance(value, str) else []
        return [value] if is_id(value) else []

    def show(self, value, keys):
        """The stored value as the document shows it; `keys`: {(model path, id): key}."""
        if isinstance(value, dict) and UNRESOLVED in value:
            return value[UNRESOLVED]  # a name no object had when ids replaced names
        if self.by_key() or not is_id(value):
            return value
        return keys.get((self.model_path, value), f"(deleted {self.model_name()} #{value})")

    def model_name(self):
        return self.model._meta.verbose_name

    def form_initial(self, value):
        return self.show(value, stored_keys([(Schema({"v": self}), {"v": value})]))

    def form_kwargs(self):
        blank = [] if self.required else [("", "---------")]
        return {"choices": lambda: blank + [(k, str(o)) for k, o in self.objects()]}

    def objects(self):
        """Every object, by its key: a choice that is not offered cannot be kept
        (a silent cap would show a stored reference as blank and drop it on save)."""
        return [(getattr(o, self.key), o) for o in self.model.objects.order_by(self.key)]


class RefList(Ref):
    form_class = forms.MultipleChoiceField

    def clean(self, value, path):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError.at(path, f"must be a list of {self.model_name()} {self.key}s")
        if self.required and not value:
            raise ConfigError.at(path, "pick at least one")
        errors = {join(path, i): text_problem(v) for i, v in enumerate(value) if text_problem(v)}
        if errors:
            raise ConfigError(errors)
        found = self.existing(value)
        for i, item in enumerate(value):  # every unknown one at once
            if item not in found:
                errors[join(path, i)] = f"no {self.model_name()} with {self.key} {item!r}"
        if errors:
            raise ConfigError(errors)
        return list(dict.fromkeys(found[v] for v in value))

    def clean_stored(self, value, path):
        if not isinstance(value, list):
            return self.clean(value, path)
        errors, ids = {}, []
        for i, item in enumerate(value):
            try:
                ids.append(Ref.clean_stored(self, item, join(path, i)))
            except ConfigError as exc:
                errors.update(exc.errors)
        if errors:
            raise ConfigError(errors)
        if self.required and not ids:
            raise ConfigError.at(path, "pick at least one")
        return list(dict.fromkeys(ids))

    def stored_ids(self, value):
        if not isinstance(value, list):
            return []
        return [i for v in value for i in Ref.stored_ids(self, v)]

    def show(self, value, keys):
        if not isinstance(value, list):
            return value
        return [Ref.show(self, v, keys) for v in value]

    def form_kwargs(self):
        return {"choices": lambda: [(k, str(o)) for k, o in self.objects()]}


# The migration to ids (automation 0017) leaves {"unresolved": name} where a stored
# name matched no object: the workflow is kept, its document shows the name, and
# saving it again (or running that action) says that nothing has that name.
UNRESOLVED = "unresolved"


def is_id(value):
    """An id as the stored configs hold it (statuses, whose id is their code, aside)."""
    return isinstance(value, int) and not isinstance(value, bool)


def stored_keys(items):
    """{(model path, id): key} of every object that the stored configs refer to:
    `items` are (schema, config) pairs; one query per kind of object."""
    wanted = {}
    for schema, config in items:
        for ref, ids in schema.references(config):
            if not ref.by_key():
                wanted.setdefault(ref.model_path, (ref, set()))[1].update(ids)
    keys = {}
    for path, (ref, ids) in wanted.items():
        for pk, key in ref.model.objects.filter(pk__in=ids).values_list("pk", ref.key):
            keys[(path, pk)] = key
    return keys


class StrList(Field):
    """A list of strings (usernames, sources, free values)."""

    form_class = forms.CharField

    def clean(self, value, path):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(
            isinstance(v, str | int | float) and not isinstance(v, bool) for v in value
        ):
            raise ConfigError.at(path, "must be a list of values")
        if len(value) > 1000:
            raise ConfigError.at(path, "holds more than 1000 values")
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
        if isinstance(value, str) and len(value) > 1000:
            raise ConfigError.at(path, "is longer than 1000 characters")
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

    def validate(self, config, path="config", stored=False):
        """The cleaned config. `stored`: `config` is as stored (references by id)."""
        cleaned, errors = self.clean_fields(config, path, stored)
        if errors:
            raise ConfigError(errors)
        return cleaned

    def references(self, config):
        """[(ref field, [ids])] of a stored config."""
        if not isinstance(config, dict):
            return []
        return [
            (field, field.stored_ids(config[name]))
            for name, field in self.fields.items()
            if isinstance(field, Ref) and config.get(name) is not None
        ]

    def show(self, config, keys=None):
        """A stored config as the document shows it (references by their current key)."""
        if not isinstance(config, dict):
            return config
        if keys is None:
            keys = stored_keys([(self, config)])
        shown_config = dict(config)
        for name, field in self.fields.items():
            if isinstance(field, Ref) and config.get(name) is not None:
                shown_config[name] = field.show(config[name], keys)
        return shown_config

    def clean_fields(self, config, path="config", stored=False):
        """(cleaned, errors): every field that is valid, and {path: message} for the others."""
        if config is None:
            config = {}
        if not isinstance(config, dict):
            return {}, {path: f"must be an object, not {shown(config)}"}
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
            clean = field.clean_stored if stored and isinstance(field, Ref) else field.clean
            try:
                cleaned[name] = clean(value, join(path, name))
            except ConfigError as exc:
                errors.update(exc.errors)
        if not errors and self.check:
            try:
                self.check(cleaned, path)
            except ConfigError as exc:
                errors.update(exc.errors)
        return cleaned, errors
