"""The admin edits a workflow row by row; each row is checked here, with the
rules and the per-type schemas the workflow document (automation.document.document)
applies to the whole, so the admin, the API and import cannot disagree.

`errors(obj)` gives {field: message} for a Workflow, EventCondition,
ActionSet, Action, Endpoint or Adaptor, and puts the cleaned values on it;
`full_clean(obj)` is Django's field validation plus these, as one
ValidationError. The models themselves import nothing above them.
"""

from django.core.exceptions import ValidationError

from automation.constants import DelayMode, Reenrollment, StopIf
from automation.document.schema import ConfigError
from automation.engine import events, timing
from automation.execution import actions
from automation.execution.actions import settings_check
from automation.models import Action, ActionSet, Adaptor, Endpoint, EventCondition, Workflow


def paths(exc):
    return [f"{path}: {message}" for path, message in exc.errors.items()]


def workflow_errors(workflow):
    errors = {}
    days = workflow.schedule_days
    if not isinstance(days, list) or any(
        isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= 6 for d in days
    ):
        errors["schedule_days"] = "Days are a list of 0 (Monday) … 6 (Sunday)."
    try:
        workflow.stop_filter = events.validate_filter(workflow.stop_filter)
    except ConfigError as exc:
        errors["stop_filter"] = "; ".join(paths(exc))
    if (
        workflow.stop_if == StopIf.LEAD_FILTER
        and not workflow.stop_filter
        and not errors.get("stop_filter")
    ):
        errors["stop_filter"] = "Stop if 'Advanced Lead Filter' needs at least one condition."
    if workflow.reenrollment == Reenrollment.ONCE_PER_DAYS and not workflow.reenroll_after_days:
        errors["reenroll_after_days"] = "Give the number of days (1–3650)."
    elif workflow.reenrollment != Reenrollment.ONCE_PER_DAYS and workflow.reenroll_after_days:
        errors["reenroll_after_days"] = "Only with re-enrollment 'once every N days'."
    if workflow.pk and workflow.schedule_enabled:
        never = [
            f"action set {i + 1} ({w})"
            for i, w in enumerate(workflow.action_sets.values_list("window", flat=True))
            if not timing.windows_overlap(w, workflow.schedule_window)
        ]
        if never:
            errors["schedule_window"] = (
                f"The schedule {workflow.schedule_window} never overlaps {', '.join(never)}: "
                "those actions could never run."
            )
    return errors


def action_set_errors(action_set):
    errors = {}
    if action_set.delay_mode == DelayMode.LEAD_FIELD and not action_set.delay_field:
        errors["delay_field"] = "Name the lead date field the delay is relative to."
    elif action_set.delay_field:
        try:
            events.check_field_name(action_set.delay_field)
        except ValueError as exc:
            errors["delay_field"] = str(exc)
    workflow = action_set.workflow if action_set.workflow_id else None
    if (
        workflow
        and workflow.schedule_enabled
        and not timing.windows_overlap(action_set.window, workflow.schedule_window)
    ):
        errors["window"] = (
            f"The window {action_set.window} never overlaps the workflow's schedule "
            f"{workflow.schedule_window}: these actions could never run."
        )
    return errors


def config_errors(validate):
    """A row whose `config` (as stored: references by id) its `type`'s schema validates
    (conditions, actions)."""

    def check(obj):
        try:
            obj.config = validate(obj.type, obj.config, "config", stored=True)
        except ConfigError as exc:
            return {"config": paths(exc)}
        return {}

    return check


def endpoint_errors(endpoint):
    errors = {}
    for name, clean in (
        ("headers", settings_check.clean_headers),
        ("auth_query", settings_check.clean_auth_query),
        ("secret_headers", settings_check.clean_secret_headers),
    ):
        try:
            setattr(endpoint, name, clean(getattr(endpoint, name)))
        except ConfigError as exc:
            errors[name] = paths(exc)
    try:
        settings_check.check_credentials(endpoint.url, endpoint.headers)
    except ConfigError as exc:
        errors["url"] = list(exc.errors.values())
    if endpoint.success_value and not endpoint.success_key.strip():
        errors["success_value"] = "Name the success key whose value this is."
    return errors


def adaptor_errors(adaptor):
    try:
        adaptor.fields = settings_check.clean_adaptor_fields(adaptor.fields)
    except ConfigError as exc:
        return {"fields": paths(exc)}
    return {}


CHECKS = {
    Workflow: workflow_errors,
    EventCondition: config_errors(events.validate),
    ActionSet: action_set_errors,
    Action: config_errors(actions.validate),
    Endpoint: endpoint_errors,
    Adaptor: adaptor_errors,
}


def errors(obj):
    """{field: message or [messages]} of the rules of `obj`'s kind (cleaning it)."""
    check = CHECKS.get(type(obj))
    return check(obj) if check else {}


def full_clean(obj):
    """Django's field validation, then the rules of the row's kind: one ValidationError."""
    found = {}
    try:
        obj.full_clean()
    except ValidationError as exc:
        found = exc.message_dict
    for field, message in errors(obj).items():
        found.setdefault(field, message if isinstance(message, list) else [message])
    if found:
        raise ValidationError(found)


class CheckedModelForm:
    """A ModelForm mixin: after Django's own validation, the rules of the row's kind,
    each error next to its field."""

    # Settings added after forms were first posted (SPEC C.5): left out or blank, a
    # new row takes the model's default and an existing one keeps its value.
    OPTIONAL_SETTINGS = ("flood_limit", "breaker_failures", "breaker_probe_seconds")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.OPTIONAL_SETTINGS:
            if name in self.fields:
                self.fields[name].required = False

    def clean(self):
        cleaned = super().clean()
        for name in self.OPTIONAL_SETTINGS:
            if name in self.fields and cleaned.get(name) is None and name not in self._errors:
                field = self.instance._meta.get_field(name)
                current = getattr(self.instance, name, None) if self.instance.pk else None
                cleaned[name] = current if current is not None else field.get_default()
        return cleaned

    def _post_clean(self):
        super()._post_clean()
        for field, message in errors(self.instance).items():
            if field in self._errors:
                continue  # the field already says what is wrong with it
            self.add_error(field if field in self.fields else None, message)
