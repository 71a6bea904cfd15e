"""The "operator" and "viewer" groups, so they exist on every installation.

Permissions are created here (Django normally creates them after all
migrations, in post_migrate), so this migration can look them up by codename.
Running it again only adds what is missing; it never removes a permission an
administrator granted by hand.
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

CRUD = ("view", "add", "change", "delete")

GROUPS = {
    # Configure workflows, watch the logs, flush and run pending actions
    # (change_logentry gates flush and "run now"), look at and edit leads.
    "operator": {
        "automation": {
            "workflow": CRUD,
            "eventcondition": CRUD,
            "actionset": CRUD,
            "action": CRUD,
            "endpoint": CRUD,
            "adaptor": CRUD,
            "logentry": ("view", "change"),
            "trigger": ("view",),
            "notification": ("view", "change"),
        },
        "leads": {
            "lead": ("view", "change"),
            # What the workflow and lead pages pick from or show.
            "campaign": ("view",),
            "list": ("view",),
            "queue": ("view",),
            "inboundnumber": ("view",),
            "emailtemplate": ("view",),
            "status": ("view",),
            "call": ("view",),
            "callback": ("view",),
            "hopperentry": ("view",),
        },
    },
    # Read-only: workflows (with their events and actions) and what they did.
    "viewer": {
        "automation": {
            "workflow": ("view",),
            "eventcondition": ("view",),
            "actionset": ("view",),
            "action": ("view",),
            "logentry": ("view",),
            "trigger": ("view",),
            "notification": ("view",),
        },
    },
}


def create_groups(apps, schema_editor=None):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for app_label in ("automation", "leads"):
        # The installed app config (create_permissions skips stubs without a
        # models module); the models it reads are the historical ones of `apps`.
        create_permissions(global_apps.get_app_config(app_label), apps=apps, verbosity=0)
    for name, apps_perms in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        codenames = {
            (app_label, f"{action}_{model}")
            for app_label, models in apps_perms.items()
            for model, actions in models.items()
            for action in actions
        }
        permissions = [
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
            for app_label, codename in sorted(codenames)
        ]
        group.permissions.add(*permissions)


class Migration(migrations.Migration):
    dependencies = [
        ("automation", "0001_initial"),
        ("leads", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
