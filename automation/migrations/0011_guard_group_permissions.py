"""The operator and viewer groups read calling rules and contact policies.

SPEC C.2: the viewer reads everything; the operator's writes are workflows,
endpoints, adaptors, custom fields and the log actions, not the compliance
settings of the send-time guard, which stay with administrators (superusers,
or users given the model permissions by hand).
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

PERMISSIONS = ("view_callingrule", "view_contactpolicy")


def grant(apps, schema_editor=None):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    create_permissions(global_apps.get_app_config("automation"), apps=apps, verbosity=0)
    permissions = Permission.objects.filter(
        content_type__app_label="automation", codename__in=PERMISSIONS
    )
    for name in ("operator", "viewer"):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*permissions)


class Migration(migrations.Migration):
    dependencies = [("automation", "0010_calling_rules_and_contact_policies")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
