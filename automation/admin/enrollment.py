"""Bulk enrollment in the admin (SPEC C.6).

The lead list's action "Enroll in workflow…" works on the checked leads or,
with Django's "select all", on every lead the list's filters match: a
confirmation page shows the count and asks for an active workflow and a rate,
then the job's progress page follows it (a bar fed by `enrollments/{id}/`).
The Enrollment pages list the jobs, read-only, with a cancel button.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from automation.constants import EnrollmentStatus
from automation.execution import enrollment as jobs
from automation.models import Enrollment
from automation.models.enrollment import MAX_RATE
from crm.validation import Invalid, parse_id
from leads.admin import LeadAdmin

# The lead list's filters (LeadAdmin.list_filter) as an enrollment filter: param → (key, parse).
LIST_FILTERS = {
    "status__code__exact": ("status", str),
    "list__campaign__id__exact": ("campaign", parse_id),
    "list__id__exact": ("list", parse_id),
}
IGNORED = {"o", "p", "all"}  # ordering, page: the same leads


class EnrollForm(forms.Form):
    workflow = forms.ModelChoiceField(
        queryset=jobs.active_workflows(), help_text="Active workflows only."
    )
    rate = forms.IntegerField(
        min_value=1,
        max_value=MAX_RATE,
        initial=100,
        help_text="At most this many leads per second.",
    )


def filter_of(params):
    """The changelist's query as an enrollment filter, or None when it holds more than
    the list filters can say (a search, a filter on another field)."""
    job_filter = {}
    for name, value in params.items():
        if name in IGNORED:
            continue
        if name == "timezone":
            job_filter["timezone"] = value
            continue
        if name not in LIST_FILTERS:
            return None
        key, parse = LIST_FILTERS[name]
        try:
            job_filter[key] = [parse(value)]
        except Invalid:
            return None
    return job_filter


def selection(request, queryset, count):
    """(filter, lead ids, problem): how a job selects the leads the operator selected."""
    if request.POST.get("select_across") != "1":
        return {}, list(queryset.order_by("pk").values_list("pk", flat=True)), ""
    job_filter = filter_of(request.GET)
    if job_filter is not None and jobs.matching(job_filter).count() == count:
        return job_filter, None, ""
    if count <= jobs.MAX_SELECTED:
        return {}, list(queryset.order_by("pk").values_list("pk", flat=True)), ""
    return (
        None,
        None,
        (
            f"{count} leads match a search or filter that an enrollment cannot keep; "
            f"narrow it with the list filters (status, campaign, list, time zone) or to at most "
            f"{jobs.MAX_SELECTED} leads."
        ),
    )


@admin.action(permissions=["enroll"], description="Enroll in workflow…")
def enroll_in_workflow(modeladmin, request, queryset):
    count = queryset.count()
    confirmed = request.POST.get("post") == "yes"
    form = EnrollForm(request.POST if confirmed else None)
    job_filter, lead_ids, problem = selection(request, queryset, count)
    if confirmed and form.is_valid() and not problem:
        try:
            job = jobs.start(
                form.cleaned_data["workflow"],
                job_filter,
                form.cleaned_data["rate"],
                lead_ids=lead_ids,
                user=request.user,
            )
        except jobs.Refused as exc:
            form.add_error("workflow", str(exc))
        else:
            messages.success(request, f"Enrolling {job.matched} leads in {job.workflow}.")
            return redirect("admin:automation_enrollment_progress", job.pk)
    hidden = [("action", "enroll_in_workflow"), ("index", "0")]
    if request.POST.get("select_across") == "1":
        hidden.append(("select_across", "1"))
    hidden += [
        (admin.helpers.ACTION_CHECKBOX_NAME, pk)
        for pk in request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME)
    ]
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Enroll leads in a workflow",
        "opts": modeladmin.model._meta,
        "count": count,
        "across": request.POST.get("select_across") == "1",
        "form": form,
        "hidden": hidden,
        "problem": problem,
        "cancel_url": request.get_full_path(),
    }
    return TemplateResponse(request, "admin/automation/enroll_confirmation.html", context)


def has_enroll_permission(self, request):
    return request.user.has_perm("automation.add_enrollment")


LeadAdmin.has_enroll_permission = has_enroll_permission
LeadAdmin.actions = [*LeadAdmin.actions, enroll_in_workflow]


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    list_display = ["id", "workflow", "status", "progress_display", "matched", "done", "rate",
                    "created_by", "created_at"]  # fmt: skip
    list_filter = ["status"]
    list_select_related = ["workflow", "created_by"]
    readonly_fields = [f.name for f in Enrollment._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False  # from the lead list's action (or the API)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Progress")
    def progress_display(self, obj):
        url = reverse("admin:automation_enrollment_progress", args=[obj.pk])
        return format_html('<a href="{}">{}%</a>', url, round(obj.progress * 100))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return redirect("admin:automation_enrollment_progress", object_id)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<str:pk>/progress/",
                wrap(self.progress_view),
                name="automation_enrollment_progress",
            ),  # fmt: skip
            path("<str:pk>/cancel/", wrap(self.cancel_view), name="automation_enrollment_cancel"),
            *super().get_urls(),
        ]

    def job(self, request, pk):
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            return Enrollment.objects.select_related("workflow").get(pk=parse_id(pk))
        except (Invalid, Enrollment.DoesNotExist):
            raise Http404("No enrollment with this id.") from None

    def progress_view(self, request, pk):
        job = self.job(request, pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Enrollment #{job.pk}: {job.workflow}",
            "opts": self.model._meta,
            "job": job,
            "percent": round(job.progress * 100, 1),
            "running": job.status == EnrollmentStatus.RUNNING,
            "can_cancel": request.user.has_perm("automation.change_enrollment"),
            "api_url": reverse("enrollment-detail", args=[job.pk]),
        }
        return TemplateResponse(request, "admin/automation/enrollment_progress.html", context)

    def cancel_view(self, request, pk):
        job = self.job(request, pk)
        if request.method != "POST" or not request.user.has_perm("automation.change_enrollment"):
            raise PermissionDenied
        if jobs.cancel(job.pk, request.user):
            messages.success(request, f"Enrollment #{job.pk} cancelled.")
        else:
            messages.warning(request, f"Enrollment #{job.pk} is {job.status}: nothing to cancel.")
        return redirect("admin:automation_enrollment_progress", job.pk)
