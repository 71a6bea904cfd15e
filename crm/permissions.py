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


def requires(*perms):
    """A permission class for one action: logged in and holding every one of `perms`.

    For actions whose HTTP method says nothing about what they do (POST
    `flush/` changes log entries, it adds none): the same permission the
    admin checks for the same thing, e.g. `requires("automation.change_logentry")`.
    """

    class Requires(permissions.BasePermission):
        def has_permission(self, request, view):
            user = request.user
            return bool(user and user.is_authenticated and user.has_perms(perms))

    Requires.__name__ = Requires.__qualname__ = f"Requires({', '.join(perms)})"
    return Requires
