"""Endpoints and Adaptors in the admin, with their "test with lead N" pages (SPEC §4.3)."""

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from automation.constants import BreakerState
from automation.document.rows import CheckedModelForm
from automation.document.schema import ConfigError
from automation.execution import breaker
from automation.execution.actions import integration, payloads, settings_check
from automation.models import Adaptor, Endpoint
from crm.validation import MAX_ID
from leads.models import Lead


class EndpointForm(CheckedModelForm, forms.ModelForm):
    # Declared to say what a URL typed without a scheme means: https.
    url = forms.URLField(max_length=1000, assume_scheme="https", label="URL")
    secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="HMAC-SHA256 signing secret (X-Signature). Never shown; leave blank to keep it.",
    )
    clear_secret = forms.BooleanField(required=False, label="Remove the signing secret")

    class Meta:
        model = Endpoint
        fields = [
            "name", "active", "method", "url", "auth_query", "headers", "secret_headers",
            "body_format", "response_format", "success_key", "success_value", "timeout_seconds",
            "max_attempts", "secret", "breaker_failures", "breaker_probe_seconds",
        ]  # fmt: skip

    def clean_secret(self):
        # Blank keeps the stored secret (it is never sent back to the browser).
        return self.cleaned_data["secret"] or (self.instance.secret if self.instance.pk else "")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            # Secret values show as ***; a *** left as it is keeps the stored value.
            self.initial.update(settings_check.shown_settings(self.instance))

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("clear_secret"):
            cleaned["secret"] = ""
            self.instance.secret = ""
        if self.instance.pk:  # the instance still holds the stored values here
            restored = settings_check.restore_masked(
                self.instance, cleaned.get("url"), cleaned.get("auth_query"), cleaned.get("headers")
            )
            for name, value in zip(("url", "auth_query", "headers"), restored, strict=True):
                if value is not None:
                    cleaned[name] = value
        return cleaned


class TestForm(forms.Form):
    lead = forms.IntegerField(min_value=1, max_value=MAX_ID, label="Lead ID")
    adaptor = forms.ModelChoiceField(
        Adaptor.objects.all(), required=False, empty_label="(default payload)"
    )
    send = forms.BooleanField(
        required=False, label="Send it now (one attempt) and show the response"
    )

    def clean_lead(self):
        lead = (
            Lead.objects.select_related("status", "list__campaign")
            .filter(pk=self.cleaned_data["lead"])
            .first()
        )
        if lead is None:
            raise forms.ValidationError(f"No lead with ID {self.cleaned_data['lead']}.")
        return lead


def latest_call(lead):
    return lead.calls.select_related("disposition", "agent").order_by("-started_at", "-pk").first()


class UsedByActionsAdmin(admin.ModelAdmin):
    """Objects that workflows use cannot be deleted (their actions would break)."""

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.used_by():
            return False
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request, queryset):
        used = [o for o in queryset if o.used_by()]
        for obj in used:
            messages.error(
                request, f"{obj} is used by the workflows {', '.join(obj.used_by())}: not deleted."
            )
        queryset.exclude(pk__in=[o.pk for o in used]).delete()

    @admin.display(description="Used by")
    def used_by_workflows(self, obj):
        return ", ".join(obj.used_by()) or "—"

    @admin.display(description="Test")
    def test_link(self, obj):
        if obj.pk is None:
            return "Save first, then test it with a lead."
        url = reverse(f"admin:automation_{self.model._meta.model_name}_test", args=[obj.pk])
        return format_html('<a class="button" href="{}">Test with a lead…</a>', url)

    def get_urls(self):
        name = f"automation_{self.model._meta.model_name}_test"
        return [
            path("<int:object_id>/test/", self.admin_site.admin_view(self.test_view), name=name),
            *super().get_urls(),
        ]

    def test_view(self, request, object_id):
        obj = get_object_or_404(self.model, pk=object_id)
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        form = TestForm(
            request.POST or None, initial={"adaptor": obj if isinstance(obj, Adaptor) else None}
        )
        if isinstance(obj, Adaptor):
            form.fields.pop("send")
            form.fields.pop("adaptor")
        shown, error = None, ""
        if request.method == "POST" and form.is_valid():
            if form.cleaned_data.get("send") and not self.has_change_permission(request, obj):
                raise PermissionDenied
            try:
                shown = self.preview(obj, form.cleaned_data)
            except ConfigError as exc:
                error = str(exc)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Test {obj._meta.verbose_name} “{obj}” with a lead",
            "opts": self.model._meta,
            "original": obj,
            "form": form,
            "shown": json.dumps(shown, indent=2, default=str) if shown is not None else None,
            "error": error,
        }
        return TemplateResponse(request, "admin/automation/integration_test.html", context)


@admin.register(Endpoint)
class EndpointAdmin(UsedByActionsAdmin):
    form = EndpointForm
    list_display = [
        "name",
        "method",
        "url",
        "body_format",
        "response_format",
        "active",
        "breaker_state",
    ]
    list_select_related = ["breaker"]
    list_filter = ["active", "method", "body_format"]
    search_fields = ["name", "url"]
    readonly_fields = ["test_link", "used_by_workflows"]
    change_form_template = "admin/automation/endpoint/change_form.html"
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "name",
                    "active",
                    "method",
                    "url",
                    "auth_query",
                    "headers",
                    "secret_headers",
                ]  # fmt: skip
            },
        ),
        (
            "Body and response",
            {"fields": ["body_format", "response_format", "success_key", "success_value"]},
        ),
        ("Delivery", {"fields": ["timeout_seconds", "max_attempts", "secret", "clear_secret"]}),
        ("Circuit breaker", {"fields": ["breaker_failures", "breaker_probe_seconds"]}),
        ("Test", {"fields": ["test_link", "used_by_workflows"]}),
    ]

    @admin.display(description="Breaker", ordering="breaker__state")
    def breaker_state(self, obj):
        row = getattr(obj, "breaker", None) if hasattr(obj, "breaker") else None
        return BreakerState(row.state).label if row is not None else BreakerState.CLOSED.label

    def change_view(self, request, object_id, form_url="", extra_context=None):
        endpoint = (
            Endpoint.objects.filter(pk=object_id).first() if str(object_id).isdigit() else None
        )
        if endpoint is not None:
            figures = breaker.health(endpoint)
            rate = figures["success_rate_5m"]
            extra_context = {
                **(extra_context or {}),
                "health": figures,
                "state_label": BreakerState(figures["state"]).label,
                "success_pct": None if rate is None else round(rate * 100, 1),
                "can_switch": self.has_change_permission(request, endpoint),
                "pause_url": reverse("admin:automation_endpoint_pause", args=[endpoint.pk]),
                "resume_url": reverse("admin:automation_endpoint_resume", args=[endpoint.pk]),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        def switch(change):
            def view(request, object_id):
                return self.switch_view(request, object_id, change)

            return self.admin_site.admin_view(view)

        return [
            path("<int:object_id>/pause/", switch(breaker.pause), name="automation_endpoint_pause"),
            path(
                "<int:object_id>/resume/", switch(breaker.resume), name="automation_endpoint_resume"
            ),
            *super().get_urls(),
        ]

    def switch_view(self, request, object_id, change):
        """Pause or resume (POST, change permission), back to the endpoint's page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        endpoint = get_object_or_404(Endpoint, pk=object_id)
        if not self.has_change_permission(request, endpoint):
            raise PermissionDenied
        change(endpoint, user=request.user.get_username())
        state = BreakerState(breaker.health(endpoint)["state"]).label
        self.message_user(request, f"{endpoint}: {state}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:automation_endpoint_change", args=[endpoint.pk]))

    def preview(self, endpoint, data):
        lead = data["lead"]
        return integration.preview(
            endpoint, data.get("adaptor"), lead, call=latest_call(lead), send=data["send"]
        )


class AdaptorForm(CheckedModelForm, forms.ModelForm):
    class Meta:
        model = Adaptor
        fields = ["name", "fields"]


@admin.register(Adaptor)
class AdaptorAdmin(UsedByActionsAdmin):
    form = AdaptorForm
    list_display = ["name"]
    search_fields = ["name"]
    readonly_fields = ["test_link", "used_by_workflows"]
    fields = ["name", "fields", "test_link", "used_by_workflows"]

    def preview(self, adaptor, data):
        lead = data["lead"]
        subject = payloads.Subject.of(lead, latest_call(lead))
        return {
            "adaptor": adaptor.name,
            "lead": lead.pk,
            "payload": payloads.plain(payloads.build_payload(adaptor, subject, None, "")),
        }
