from rest_framework import permissions


class ModelPermissions(permissions.DjangoModelPermissions):
    """DRF's model permissions, plus: reading needs the model's view permission.

    (DRF lets any authenticated user read; an agent should not page through
    every lead just because it has an API token.)
    """

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }
