"""Admin of the CRM domain. Leads and calls are big tables: no full counts,
raw-id lead pickers, related rows joined rather than fetched per row."""

from django.conf import settings
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from leads import phones
from leads.models import (
    Call,
    Callback,
    Campaign,
    DncEntry,
    EmailTemplate,
    HopperEntry,
    InboundNumber,
    Lead,
    List,
    Queue,
    Status,
)


class PhoneSearchMixin:
    """A search term that is a phone number in any spelling also matches its E.164 form."""

    phone_search_fields = ("phone_number",)

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        try:
            e164 = phones.to_e164(search_term)
        except phones.InvalidPhone:
            return results, may_have_duplicates
        for field in self.phone_search_fields:
            results |= queryset.filter(**{field: e164})
        return results, may_have_duplicates


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "active", "created_at"]
    list_filter = ["active"]
    search_fields = ["name"]


@admin.register(List)
class ListAdmin(admin.ModelAdmin):
    list_display = ["name", "campaign", "active", "leads_link", "created_at"]
    list_filter = ["active", "campaign"]
    list_select_related = ["campaign"]
    search_fields = ["name", "campaign__name"]
    autocomplete_fields = ["campaign"]

    # No lead counts: counting every list's leads on each page scales with
    # the leads table. The link opens them, filtered, without a full count.
    @admin.display(description="Leads")
    def leads_link(self, obj):
        url = reverse("admin:leads_lead_changelist")
        return format_html('<a href="{}?list__id__exact={}">Leads</a>', url, obj.pk)


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    list_display = ["name", "campaign"]
    list_filter = ["campaign"]
    list_select_related = ["campaign"]
    search_fields = ["name"]
    autocomplete_fields = ["campaign"]


@admin.register(InboundNumber)
class InboundNumberAdmin(PhoneSearchMixin, admin.ModelAdmin):
    phone_search_fields = ("number",)
    list_display = ["number", "queue", "description"]
    list_filter = ["queue"]
    list_select_related = ["queue"]
    search_fields = ["number", "description", "queue__name"]
    autocomplete_fields = ["queue"]


@admin.register(EmailTemplate)
class EmailTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "subject"]
    search_fields = ["name", "subject"]


@admin.register(Status)
class StatusAdmin(admin.ModelAdmin):
    list_display = ["code", "name", *Status.FLAGS]
    list_filter = list(Status.FLAGS)
    search_fields = ["code", "name"]

    def get_readonly_fields(self, request, obj=None):
        # The code is the primary key: editing it would save a copy.
        return ["code"] if obj else []


class ReadOnlyInline(admin.TabularInline):
    """A compact, read-only list of a lead's related rows, each linking to its page."""

    extra = 0
    can_delete = False
    show_change_link = True

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class CallInline(ReadOnlyInline):
    model = Call
    fields = ["started_at", "call_type", "disposition", "length", "term_reason", "agent"]
    ordering = ["-started_at"]


class CallbackInline(ReadOnlyInline):
    model = Callback
    fields = ["due_at", "recipient", "agent", "state", "note"]
    ordering = ["-due_at"]


class HopperEntryInline(ReadOnlyInline):
    model = HopperEntry
    fields = ["campaign", "priority", "source", "state", "inserted_at", "expires_at"]
    ordering = ["-inserted_at"]


class TimeZoneFilter(admin.SimpleListFilter):
    """Leads by time zone, offered from the zones phone numbers imply, not a
    DISTINCT over every lead ("" is a lead following the account default)."""

    title = "time zone"
    parameter_name = "timezone"

    def lookups(self, request, model_admin):
        zones = phones.north_american_zones() | {settings.TIME_ZONE}
        return [("", f"Account default ({settings.TIME_ZONE})"), *((z, z) for z in sorted(zones))]

    def choices(self, changelist):
        # The account default is a real choice ("" stored), not "All".
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "All",
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value()
        if value is None or value not in dict(self.lookup_choices):
            return queryset
        return queryset.filter(timezone=value)


@admin.register(Lead)
class LeadAdmin(PhoneSearchMixin, admin.ModelAdmin):
    phone_search_fields = ("phone_number", "alt_phone")
    list_display = [
        "id", "first_name", "last_name", "phone_number", "list", "status", "timezone",
        "called_count", "last_called_at", "created_at",
    ]  # fmt: skip
    list_display_links = ["id", "first_name", "last_name"]
    list_filter = ["status", "list__campaign", "list", TimeZoneFilter]
    list_select_related = ["list", "status"]
    search_fields = ["first_name", "last_name", "phone_number", "alt_phone", "email"]
    autocomplete_fields = ["list", "status", "owner"]
    readonly_fields = ["called_count", "last_called_at", "created_at", "modified_at"]
    show_full_result_count = False
    # Extension point: the workflow app appends its log inlines here.
    inlines = [CallInline, CallbackInline, HopperEntryInline]


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    """New calls go through Call.record (lead counters, status); a changed
    disposition through set_disposition (a redisposition)."""

    list_display = [
        "id", "lead", "call_type", "disposition", "started_at", "is_live", "length",
        "term_reason", "campaign", "agent",
    ]  # fmt: skip
    list_filter = ["call_type", "disposition", "term_reason", "campaign"]
    list_select_related = ["lead", "disposition", "campaign", "agent"]
    search_fields = ["external_id", "lead__phone_number", "lead__last_name"]
    raw_id_fields = ["lead"]
    autocomplete_fields = ["campaign", "list", "queue", "inbound_number", "agent", "disposition"]
    show_full_result_count = False

    @admin.display(boolean=True, description="Live")
    def is_live(self, obj):
        return obj.is_live

    def get_readonly_fields(self, request, obj=None):
        # Moving a call to another lead would leave both leads' counters wrong.
        return ["lead"] if obj else []

    def save_model(self, request, obj, form, change):
        if not change:
            fields = {
                f.attname: getattr(obj, f.attname)
                for f in Call._meta.concrete_fields
                if not f.primary_key
            }
            call, _ = Call.record(**fields)
            obj.pk = call.pk
            obj._state.adding = False
        elif "disposition" in form.changed_data and obj.disposition_id:
            obj.set_disposition(obj.disposition)
        else:
            super().save_model(request, obj, form, change)


@admin.register(Callback)
class CallbackAdmin(admin.ModelAdmin):
    list_display = ["id", "lead", "due_at", "recipient", "agent", "state"]
    list_filter = ["state", "recipient"]
    list_select_related = ["lead", "agent"]
    search_fields = ["lead__phone_number", "lead__last_name", "note"]
    raw_id_fields = ["lead"]
    autocomplete_fields = ["agent"]


@admin.register(DncEntry)
class DncEntryAdmin(PhoneSearchMixin, admin.ModelAdmin):
    list_display = ["phone_number", "email", "campaign", "reason", "source", "created_at"]
    list_filter = ["campaign", "source"]
    list_select_related = ["campaign"]
    search_fields = ["phone_number", "email", "reason"]
    autocomplete_fields = ["campaign"]


@admin.register(HopperEntry)
class HopperEntryAdmin(admin.ModelAdmin):
    list_display = ["id", "lead", "campaign", "priority", "source", "state", "expires_at"]
    list_filter = ["state", "source", "campaign"]
    list_select_related = ["lead", "campaign"]
    search_fields = ["lead__phone_number", "lead__last_name"]
    raw_id_fields = ["lead"]
    autocomplete_fields = ["campaign"]
