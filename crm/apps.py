from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.db.models.signals import post_migrate


class CrmConfig(AppConfig):
    default = True
    name = "crm"

    def ready(self):
        from crm import groups

        # After every migrate (and a test database's flush): the viewer and operator groups.
        post_migrate.connect(groups.sync, sender=self, dispatch_uid="crm-groups")


class AdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with `crm.admin.AdminSite` as the default site (admin.site)."""

    default = False
    default_site = "crm.admin.AdminSite"
