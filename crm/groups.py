"""The "viewer" and "operator" groups (SPEC C.2, Permissions), kept in step on every migrate.

- viewer: reads everything of the CRM and its automation (every model of
  READ_APPS), writes nothing: no flush, run now, release, restore, enroll,
  backtest, acknowledge.
- operator: reads the same, and writes workflows (with their events, action
  sets and actions), endpoints, adaptors and custom fields; flushes, runs now
  and releases log entries (change_logentry, as the admin checks),
  acknowledges notifications, and enrolls leads in bulk (add_enrollment;
  cancel: change_enrollment). Calling rules, contact policies, leads and the
  other CRM data stay with administrators, and so does erasing a workflow
  with its history (automation.purge_workflow; deleting one archives it).

Users, groups, API tokens and the task queue are not "everything": only
superusers (or users given those permissions by hand) see them.

`sync()` runs after every `migrate` (post_migrate), so a model added later is
readable by both groups at once. It only adds what is missing: it never
removes a permission an administrator granted by hand.
"""

from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.db import DEFAULT_DB_ALIAS

READ_APPS = ("leads", "automation")
CRUD = ("view", "add", "change", "delete")

# What an operator writes beyond reading: "app.model" → actions.
OPERATOR_WRITES = {
    "automation.workflow": CRUD,
    "automation.eventcondition": CRUD,
    "automation.actionset": CRUD,
    "automation.action": CRUD,
    "automation.endpoint": CRUD,
    "automation.adaptor": CRUD,
    "leads.customfield": CRUD,  # SPEC C.2's declared custom fields
    "automation.logentry": ("change",),  # flush, run now, release held entries
    "automation.notification": ("change",),  # acknowledge
    "automation.enrollment": ("add", "change"),  # bulk enrollment: start, cancel (SPEC C.6)
}


def codenames(group):
    """{(app_label, codename)} the group holds (models that do not exist are left out)."""
    read = {
        (model._meta.app_label, f"view_{model._meta.model_name}")
        for label in READ_APPS
        for model in apps.get_app_config(label).get_models()
    }
    if group == "viewer":
        return read
    writes = set()
    for label, actions in OPERATOR_WRITES.items():
        app_label, model_name = label.split(".")
        try:
            apps.get_model(app_label, model_name)
        except LookupError:
            continue
        writes |= {(app_label, f"{action}_{model_name}") for action in actions}
    return read | writes


GROUPS = ("viewer", "operator")


def sync(using=DEFAULT_DB_ALIAS, **kwargs):
    """Create the groups if missing and add the permissions they lack."""
    from django.contrib.auth.models import Group, Permission

    for label in READ_APPS:  # they may not exist yet: the migrate of these apps made them
        create_permissions(apps.get_app_config(label), verbosity=0, using=using)
    for name in GROUPS:
        group, _ = Group.objects.using(using).get_or_create(name=name)
        wanted = codenames(name)
        permissions = [
            permission
            for permission in Permission.objects.using(using)
            .filter(content_type__app_label__in=READ_APPS)
            .select_related("content_type")
            if (permission.content_type.app_label, permission.codename) in wanted
        ]
        group.permissions.add(*permissions)
