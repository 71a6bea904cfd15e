"""The operator group no longer edits leads (SPEC C.2: its writes are workflows,
endpoints, adaptors, custom fields and the log's flush, run now and release).

0002 granted `leads.change_lead`; this takes it back from the group (users
given it by hand keep it). Every other permission of the viewer and operator
groups is added after each migrate by `crm.groups.sync`.
"""

from django.db import migrations

REVOKED = [("leads", "change_lead")]


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name="operator").first()
    if group is None:
        return
    for app_label, codename in REVOKED:
        group.permissions.remove(
            *Permission.objects.filter(content_type__app_label=app_label, codename=codename)
        )


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name="operator").first()
    if group is None:
        return
    for app_label, codename in REVOKED:
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label=app_label, codename=codename)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("automation", "0015_breaker_flood_alerts"),
        ("leads", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(revoke, grant)]
