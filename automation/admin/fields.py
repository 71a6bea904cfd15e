"""Custom fields (SPEC C.2): declared with a type, in the admin's CRM section.

Registered here, not with the leads admin, because removing one needs to know
what names it (workflows, adaptors, email templates: automation.document.fields).
"""

from django import forms
from django.contrib import admin

from automation.document.fields import removal_refused
from leads.models import CustomField, CustomFieldType


class CustomFieldForm(forms.ModelForm):
    choices = forms.CharField(
        required=False,
        help_text="For a choice field: its values, comma-separated.",
        widget=forms.TextInput(attrs={"size": 60}),
    )

    class Meta:
        model = CustomField
        fields = ["name", "label", "type", "choices"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["type"].choices = [("", "---------"), *CustomFieldType.choices]
        if self.instance.pk and isinstance(self.instance.choices, list):
            self.initial["choices"] = ", ".join(self.instance.choices)

    def clean_choices(self):
        text = self.cleaned_data.get("choices") or ""
        return [part.strip() for part in text.split(",") if part.strip()]

    def clean_name(self):
        name = self.cleaned_data["name"]
        renamed = self.instance.pk and name != self.instance.name
        if renamed and (message := removal_refused(self.instance.name)):
            raise forms.ValidationError(message)
        return name


@admin.register(CustomField)
class CustomFieldAdmin(admin.ModelAdmin):
    form = CustomFieldForm
    list_display = ["name", "label", "type", "choices_shown"]
    list_filter = ["type"]
    search_fields = ["name", "label"]

    @admin.display(description="Choices")
    def choices_shown(self, obj):
        return ", ".join(obj.choices or ()) or "—"

    def get_deleted_objects(self, objs, request):
        """Django's, plus: a field something names is protected (its delete page says by what)."""
        deleted, counts, perms, protected = super().get_deleted_objects(objs, request)
        for obj in objs:
            if message := removal_refused(obj.name):
                protected = [*protected, message]
        return deleted, counts, perms, protected
