from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class CrmConfig(AppConfig):
    default = True
    name = "crm"


class AdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with `crm.admin.AdminSite` as the default site (admin.site)."""

    default = False
    default_site = "crm.admin.AdminSite"
