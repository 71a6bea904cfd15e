"""The admin site: every changelist and object page reads its URL through crm.validation.

`AdminSite` is the project's `admin.site` (crm.apps.AdminConfig). Every
ModelAdmin registered on it — ours, django-q2's task and schedule lists,
auth's users and groups — is given `GuardedAdmin` first in its bases, so:

- a changelist whose query string holds a NUL (or any value the database
  would refuse: an id out of range, a date that overflows) shows no results
  and an error message naming the parameter, instead of a 500 (Django's own
  handling only covers errors raised while the filters are *built*, not
  those raised when the query runs);
- an object page whose id holds a NUL is "does not exist", like any other
  unknown id;
- the autocomplete view answers no results to such a term.
"""

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.db import DatabaseError, transaction
from django.http import JsonResponse

from crm.validation import text_problem

# Django's own changelist parameters: not filters.
ADMIN_PARAMS = {"p", "o", "q", "e", "all", "_popup", "_to_field", "_facets"}


def bad_params(params):
    """{name: problem} for query parameters (name → list of values) no filter may use."""
    bad = {}
    for name, values in params.items():
        for value in values if isinstance(values, list) else [values]:
            problem = text_problem(name) or text_problem(value)
            if problem:
                bad[name] = problem
                break
    return bad


class GuardedChangeList:
    """Mixed into a ModelAdmin's ChangeList class (see GuardedAdmin.get_changelist)."""

    def get_queryset(self, request, exclude_parameters=None):
        bad = bad_params(self.filter_params)
        if bad:
            for name in bad:
                self.filter_params.pop(name, None)
                self.params.pop(name, None)
            for name, problem in bad.items():
                shown = name.encode("unicode_escape").decode()[:60]
                messages.error(request, f"Filter {shown}: the value {problem}; no results shown.")
            return super().get_queryset(request, exclude_parameters).none()
        return super().get_queryset(request, exclude_parameters)

    def get_results(self, request):
        # The query runs here first (the count): a value the database refuses
        # (out of range, say) is the filter's fault, not a server error.
        try:
            with transaction.atomic():
                super().get_results(request)
        except (DatabaseError, ValueError, TypeError, OverflowError) as exc:
            messages.error(request, f"These filters cannot be applied: {exc}")
            raise IncorrectLookupParameters(exc) from exc


class GuardedAdmin:
    """First base of every registered ModelAdmin (AdminSite.register adds it)."""

    _guarded_changelists = {}

    def get_changelist(self, request, **kwargs):
        changelist = super().get_changelist(request, **kwargs)
        if issubclass(changelist, GuardedChangeList):
            return changelist
        guarded = self._guarded_changelists.get(changelist)
        if guarded is None:
            guarded = type(f"Guarded{changelist.__name__}", (GuardedChangeList, changelist), {})
            self._guarded_changelists[changelist] = guarded
        return guarded

    def get_object(self, request, object_id, from_field=None):
        if text_problem(str(object_id)):
            return None
        return super().get_object(request, object_id, from_field)


class AdminSite(admin.AdminSite):
    def register(self, model_or_iterable, admin_class=None, **options):
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, GuardedAdmin):
            admin_class = type(
                admin_class.__name__,
                (GuardedAdmin, admin_class),
                {"__module__": admin_class.__module__, "__doc__": admin_class.__doc__},
            )
        super().register(model_or_iterable, admin_class, **options)

    def autocomplete_view(self, request):
        if bad_params(dict(request.GET.lists())):
            return JsonResponse({"results": [], "pagination": {"more": False}})
        return super().autocomplete_view(request)
