"""Admin forms.

- `EventConditionForm` / `ActionForm`: a `type` select plus, for every type,
  the fields of that type's Schema (`<TYPE>__<name>`, generated with
  `field.form_field(name)`): the same schema that validates the API and
  import validates the admin, and its errors land next to the field.
- `WorkflowForm`: the workflow settings (relation objects only for the
  chosen relation, schedule days as checkboxes, the stop filter as rows).
- `FlushForm`, `DryRunForm`: the small forms of the admin's own pages.
"""

import re

from django import forms
from django.core.exceptions import ValidationError
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from automation.constants import (
    ACTION_TYPES,
    CONNECT_WORKFLOW_EVENTS,
    Operator,
    Reenrollment,
    Relation,
)
from automation.document import analysis
from automation.document.rows import CheckedModelForm
from automation.document.schema import MISSING, ConfigError, MultiChoice, RefList
from automation.engine import events
from automation.execution import actions
from automation.models import Action, ActionSet, EventCondition, Workflow
from crm.validation import MAX_ID
from leads.models import Lead

SEP = "__"
# Suggestions for inputs that name a lead field (an HTML <datalist>, see field_names_datalist).
FIELD_INPUTS = ("field", "source_field")
DATALIST_ID = "automation-lead-fields"


def config_field_name(type_code, name):
    return f"{type_code}{SEP}{name}"


def field_names_datalist():
    """The <datalist> behind every "field" input: lead fields, call fields, custom.<name>."""
    from leads.placeholders import CALL_FIELDS

    names = [*Lead.CONDITION_FIELDS, *(f"call.{f}" for f in CALL_FIELDS), "custom."]
    options = format_html_join("", '<option value="{}">', ((n,) for n in names))
    return format_html('<datalist id="{}">{}</datalist>', DATALIST_ID, options)


BLANK_CHOICE = ("", "---------")


def start_blank(form_field, default):
    """A single-choice select that starts blank, or at the schema's default.

    Without a blank first option a browser submits the first choice of a
    select nobody touched ("A – Answering machine" as the new status), so a
    required choice left alone would be silently made. Blank, it reaches the
    schema as absent: "is required" next to the field, or the default.
    """
    choices = form_field.choices  # a callable's stay lazy: objects are read per render

    def with_blank():
        return [BLANK_CHOICE, *(choice for choice in choices if choice[0] != "")]

    form_field.choices = with_blank
    if default is not MISSING:
        form_field.initial = default


def schema_form_fields(registry):
    """Every type's schema fields as optional form fields named `<TYPE>__<name>`.

    They are all optional for the browser: only the chosen type's count, and
    its Schema (not the form) says which are required, so a hidden field of
    another type never blocks a save. Every single-choice select starts blank
    (or at its default): see `start_blank`.
    """
    fields = {}
    for code, spec in registry.items():
        for name, field in spec.schema.fields.items():
            form_field = field.form_field(name)
            schema_required = form_field.required
            form_field.required = False
            if isinstance(form_field, forms.ChoiceField) and not isinstance(
                form_field, forms.MultipleChoiceField
            ):
                start_blank(form_field, field.default)
            if isinstance(field, MultiChoice) and not isinstance(field, RefList):
                form_field.widget = forms.CheckboxSelectMultiple(choices=form_field.choices)
            elif isinstance(field, RefList):
                form_field.widget.attrs["size"] = 6
            if name in FIELD_INPUTS and isinstance(form_field.widget, forms.TextInput):
                form_field.widget.attrs["list"] = DATALIST_ID
            if schema_required:
                form_field.label_suffix = " *:"
            fields[config_field_name(code, name)] = form_field
    return fields


class TypedConfigForm(forms.ModelForm):
    """A model form whose JSON `config` is edited through the chosen type's schema fields.

    Subclasses set `registry` (type code → object with a `.schema`) and
    `validate(type, config, path)`. `clean()`:

    1. collects the chosen type's values (`field.from_form`) into a config;
    2. validates it with that type's schema, the one validation of the API
       and import, and puts the cleaned config on the instance;
    3. maps every error path `config.<name>…` back to the form field
       `<TYPE>__<name>`, so it is shown next to that field.
    """

    registry = {}
    validate = None
    descriptions = {}

    class Media:
        js = ["automation/typed_config.js"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        type_field = self.fields.get("type")
        if type_field is not None:
            type_field.widget.attrs["data-typed-config"] = "type"
        instance_type = self.instance.type if self.instance.pk else None
        for name, field in self.schema_fields(instance_type):
            value = (self.instance.config or {}).get(name)
            if value is not None:
                self.initial.setdefault(
                    config_field_name(instance_type, name), field.form_initial(value)
                )

    @classmethod
    def with_schema_fields(cls):
        """This form class with every type's schema fields declared (admin fieldsets need them)."""
        attrs = {"__module__": cls.__module__, **schema_form_fields(cls.registry)}
        return type(cls.__name__, (cls,), attrs)

    @classmethod
    def fieldsets(cls, main_fields):
        """Admin fieldsets: the main fields, then one per type (JS shows the chosen one)."""
        result = [(None, {"fields": main_fields})]
        for code, spec in cls.registry.items():
            label = type(spec).__name__
            label = dict(cls.base_fields["type"].choices).get(code, label)
            result.append(
                (
                    f"{label} settings",
                    {
                        "fields": [config_field_name(code, n) for n in spec.schema.fields],
                        "classes": ["typed-config", f"typed-config-{code}"],
                        "description": cls.descriptions.get(code, "")
                        + ("" if spec.schema.fields else " — no settings."),
                    },
                )
            )
        return result

    def schema_fields(self, type_code):
        spec = self.registry.get(type_code)
        return list(spec.schema.fields.items()) if spec else []

    def chosen_type(self):
        if self.is_bound:
            return self.data.get(self.add_prefix("type")) or None
        return self.initial.get("type", self.instance.type) or None

    @cached_property
    def changed_data(self):
        # Fields of the types not chosen never count as a change (their selects
        # show a first option that is no initial value).
        relevant = [n for n in self._meta.fields if n in self.fields]
        relevant += [
            config_field_name(self.chosen_type(), n)
            for n, _ in self.schema_fields(self.chosen_type())
        ]
        return [name for name in relevant if self[name]._has_changed()]

    def clean(self):
        cleaned = super().clean()
        type_code = cleaned.get("type")
        self._config_reported = False
        if not type_code or type_code not in self.registry:
            return cleaned
        raw = {}
        for name, field in self.schema_fields(type_code):
            key = config_field_name(type_code, name)
            if key in self._errors:  # the form field already said what is wrong
                self._config_reported = True
                continue
            value = field.from_form(cleaned.get(key))
            if value is None or value == "" or value == []:
                continue  # absent: the schema applies its default or says it is required
            raw[name] = value
        try:
            self.instance.config = type(self).validate(type_code, raw, "config")
        except ConfigError as exc:
            self.instance.config = raw
            self._config_reported = True
            for path, message in exc.errors.items():
                field_name, message = self.field_for_path(type_code, path, message)
                self.add_error(field_name, message)
        return cleaned

    def field_for_path(self, type_code, path, message):
        """`config.values[1]` → (`<TYPE>__values`, "item 2: …"); unknown paths → non-field."""
        match = re.match(r"^config\.([A-Za-z0-9_]+)(.*)$", path)
        if not match or match.group(1) not in dict(self.schema_fields(type_code)):
            return None, f"{path}: {message}"
        name, rest = match.groups()
        item = re.match(r"^\[(\d+)\]", rest)
        if item:
            message = f"item {int(item.group(1)) + 1}: {message}"
        elif rest:
            message = f"{rest.lstrip('.')}: {message}"
        return config_field_name(type_code, name), message


class EventConditionForm(TypedConfigForm):
    registry = events.EVENTS
    validate = staticmethod(events.validate)
    descriptions = CONNECT_WORKFLOW_EVENTS

    class Meta:
        model = EventCondition
        fields = ["type", "active", "position"]


class EventConditionFormSet(forms.BaseInlineFormSet):
    """The workflow's conditions together: none that no single occurrence can satisfy
    with another (automation.document.analysis, the same check as the API and import)."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        events_ = []
        for i, form in enumerate(self.forms):
            data = getattr(form, "cleaned_data", None) or {}
            if not data or data.get("DELETE") or not data.get("active", True):
                continue
            if data.get("type") in events.EVENTS:
                events_.append((f"event {i + 1}", data["type"], form.instance.config or {}))
        workflow = self.instance
        errors = analysis.impossible_conditions(
            events_, getattr(workflow, "relation", None), getattr(workflow, "all_campaigns", False)
        )
        if errors:
            raise ValidationError([f"{path}: {message}" for path, message in errors.items()])


class ActionForm(TypedConfigForm):
    registry = actions.EXECUTORS
    validate = staticmethod(actions.validate)
    descriptions = ACTION_TYPES

    class Meta:
        model = Action
        fields = ["type", "active", "skip_if_live_call", "position"]
        help_texts = {
            "type": "Integration is the Convoso Connect action: it sends the lead to an "
            "Endpoint through an Adaptor.",
        }


EventConditionForm = EventConditionForm.with_schema_fields()
ActionForm = ActionForm.with_schema_fields()


# --- Workflow settings --------------------------------------------------------

DAYS = [(0, "Mon"), (1, "Tue"), (2, "Wed"), (3, "Thu"), (4, "Fri"), (5, "Sat"), (6, "Sun")]
FILTER_PARTS = ("field", "operator", "value", "value2")
FILTER_ROW = re.compile(r"^(?P<name>.+)-(?P<index>\d+)-(?P<part>field|operator|value|value2)$")


def filter_rows(conditions):
    """Stored stop-filter conditions as editable rows (within: values joined by commas)."""
    rows = []
    for condition in conditions or []:
        if not isinstance(condition, dict):
            continue
        value = condition.get("value", "")
        if condition.get("values"):
            value = ", ".join(str(v) for v in condition["values"])
        rows.append(
            {
                "field": condition.get("field", ""),
                "operator": condition.get("operator", ""),
                "value": "" if value is None else value,
                "value2": "" if condition.get("value2") is None else condition.get("value2"),
            }
        )
    return rows


class StopFilterWidget(forms.Widget):
    """The stop filter as rows of field / operator / value / second value.

    Rendered in Python (the project's form renderer does not read the
    templates/ folder). One blank row more than there are conditions; the
    "Add a condition" button (JS) adds more.
    """

    def render(self, name, value, attrs=None, renderer=None):
        rows = [*(value if isinstance(value, list) else []), {}]
        operators = [("", "---------"), *Operator.choices]
        body = []
        for index, row in enumerate(rows):
            row = row if isinstance(row, dict) else {}
            prefix = f"{name}-{index}"
            options = format_html_join(
                "",
                '<option value="{}"{}>{}</option>',
                (
                    (code, mark_safe(" selected") if code == row.get("operator") else "", label)
                    for code, label in operators
                ),
            )
            body.append(
                format_html(
                    '<tr class="stop-filter-row">'
                    '<td><input type="text" name="{p}-field" value="{field}" list="{dl}" '
                    'placeholder="state, custom.score, call.length" aria-label="Field"></td>'
                    '<td><select name="{p}-operator" aria-label="Operator">{options}</select></td>'
                    '<td><input type="text" name="{p}-value" value="{value}" aria-label="Value"></td>'
                    '<td><input type="text" name="{p}-value2" value="{value2}" '
                    'aria-label="Second value (between)"></td></tr>',
                    p=prefix,
                    field=row.get("field", ""),
                    dl=DATALIST_ID,
                    options=options,
                    value=row.get("value", ""),
                    value2=row.get("value2", ""),
                )
            )
        return format_html(
            '<div class="stop-filter" data-name="{}"><table><thead><tr><th>Field</th>'
            "<th>Operator</th><th>Value (within: comma-separated)</th>"
            "<th>Second value (between)</th></tr></thead><tbody>{}</tbody></table>"
            '<button type="button" class="button stop-filter-add">Add a condition</button>{}</div>',
            name,
            mark_safe("".join(body)),
            field_names_datalist(),
        )

    def value_from_datadict(self, data, files, name):
        rows = {}
        for key in data:
            match = FILTER_ROW.match(key)
            if match and match["name"] == name:
                rows.setdefault(int(match["index"]), {})[match["part"]] = data.get(key, "").strip()
        return [rows[i] for i in sorted(rows)]

    def value_omitted_from_data(self, data, files, name):
        return not any(key.startswith(f"{name}-") for key in data)


class StopFilterField(forms.Field):
    """Rows → Lead-Fields conditions, validated by the Lead Fields schema."""

    widget = StopFilterWidget

    def prepare_value(self, value):
        # Stored conditions and posted rows both render as rows.
        return filter_rows(value) if isinstance(value, list) else []

    def to_python(self, value):
        conditions = []
        for row in value or []:
            if not any(row.get(part) not in (None, "") for part in FILTER_PARTS):
                continue  # a blank row
            condition = {"field": row.get("field", ""), "operator": row.get("operator", "")}
            if condition["operator"] == Operator.WITHIN:
                condition["values"] = [
                    v.strip() for v in str(row.get("value", "")).split(",") if v.strip()
                ]
            elif row.get("value") not in (None, ""):
                condition["value"] = row["value"]
            if row.get("value2") not in (None, ""):
                condition["value2"] = row["value2"]
            conditions.append(condition)
        return conditions

    def validate(self, value):
        try:
            events.validate_filter(value, "stop_filter")
        except ConfigError as exc:
            messages = []
            for path, message in exc.errors.items():
                match = re.match(r"^stop_filter\[(\d+)\]\.?([A-Za-z0-9_]*)(.*)$", path)
                if match:
                    part = match.group(2) or "condition"
                    messages.append(f"Condition {int(match.group(1)) + 1}, {part}: {message}")
                else:
                    messages.append(f"{path}: {message}")
            raise ValidationError(messages) from None

    def has_changed(self, initial, data):
        return self.to_python(data) != self.to_python(filter_rows(initial or []))


class WorkflowForm(CheckedModelForm, forms.ModelForm):
    schedule_days = forms.TypedMultipleChoiceField(
        choices=DAYS,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Days",
        help_text="In the lead's local time. None ticked: every day.",
    )
    stop_filter = StopFilterField(
        required=False,
        label="Advanced lead filter",
        help_text="Used when Stop Workflow If is 'Advanced Lead Filter matched': "
        "the lead stops when all these conditions match.",
    )

    class Meta:
        model = Workflow
        fields = [
            "name", "description", "active", "relation", "relation_mode", "campaigns", "lists",
            "queues", "inbound_numbers", "email_templates", "all_campaigns", "stop_if",
            "stop_filter", "reenrollment", "reenroll_after_days", "skip_if_pending",
            "schedule_enabled", "schedule_window", "schedule_days", "perform_action_on",
            "flood_limit",
        ]  # fmt: skip

    class Media:
        js = ["automation/workflow_form.js"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "reenrollment" in self.fields:
            self.fields["reenrollment"].required = False  # absent: always (the default)

    def clean_reenrollment(self):
        return self.cleaned_data.get("reenrollment") or Reenrollment.ALWAYS

    def clean(self):
        cleaned = super().clean()
        relation = cleaned.get("relation")
        if relation:
            chosen = Relation(relation).label
            for other, attr in Workflow.RELATION_FIELDS.items():
                if other != relation and cleaned.get(attr):
                    self.add_error(
                        attr,
                        f"The relation is {chosen}: {Relation(other).label.lower()} cannot be "
                        f"chosen. Clear them, or set the relation to {Relation(other).label}.",
                    )
        return cleaned


class ActionSetForm(CheckedModelForm, forms.ModelForm):
    def has_changed(self):
        # A new set at its defaults ("Immediately / 24hr") is still a set the
        # user added (the workflow page shows no empty extra rows): an
        # unchanged extra form would be dropped while the page says "changed".
        return self.instance.pk is None or super().has_changed()

    class Meta:
        model = ActionSet
        fields = [
            "workflow", "position", "delay_mode", "delay_days", "delay_hours", "delay_minutes",
            "delay_field", "delay_direction", "window",
        ]  # fmt: skip


# --- Small forms of the admin's own pages ------------------------------------


class DryRunForm(forms.Form):
    lead = forms.IntegerField(min_value=1, max_value=MAX_ID, label="Lead ID")
    previous = forms.CharField(
        required=False,
        label="Before the save",
        widget=forms.TextInput(attrs={"size": 40, "placeholder": "state=NV, called_count=2"}),
        help_text="For “becomes” conditions: what the simulated save changed, as "
        "field=value pairs (comma-separated). Empty: the save changed nothing.",
    )

    def clean_lead(self):
        lead = Lead.objects.filter(pk=self.cleaned_data["lead"]).first()
        if lead is None:
            raise ValidationError(f"There is no lead #{self.cleaned_data['lead']}.")
        return lead

    def clean_previous(self):
        """`state=NV, called_count=2` as the dry run's facts.previous."""
        previous = {}
        for part in filter(None, (p.strip() for p in self.cleaned_data["previous"].split(","))):
            name, equals, value = part.partition("=")
            if not equals or not name.strip():
                raise ValidationError(f"{part!r} is not field=value.")
            previous[name.strip()] = value.strip()
        return previous

    def facts(self):
        previous = self.cleaned_data.get("previous")
        return {"previous": previous} if previous else None
