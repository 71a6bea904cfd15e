"""The send-time guard's settings in the admin: calling rules and contact policies (SPEC C.3).

A calling rule's weekly hours are edited as one line per weekday ("09:00-20:00",
"closed", or blank for not limited) and its blocked dates one per line; the
model's own validation (automation.engine.guard.parse_hours / parse_dates) checks
them, and each problem is shown on the weekday or field it is about.
"""

from django import forms
from django.contrib import admin

from automation.engine import guard
from automation.models import CallingRule, ContactPolicy

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
CLOSED = "closed"


def day_field(day):
    return f"day_{day}"


def day_input(name):
    return forms.CharField(
        label=name,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "09:00-20:00", "size": 14}),
        help_text="HH:MM-HH:MM local (end excluded), “closed”, or blank: not limited.",
    )


class CallingRuleFormBase(forms.ModelForm):
    blocked_dates_text = forms.CharField(
        label="Blocked dates",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 30}),
        help_text="Local dates with no contact, one per line (YYYY-MM-DD), e.g. 2026-12-25.",
    )

    class Meta:
        model = CallingRule
        fields = ["name", "active", "state", "timezone"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        hours = self.instance.hours or {}
        for day in range(7):
            span = hours.get(str(day))
            if span:
                self.fields[day_field(day)].initial = f"{span[0]}-{span[1]}"
            elif str(day) in hours:
                self.fields[day_field(day)].initial = CLOSED
        self.fields["blocked_dates_text"].initial = "\n".join(self.instance.blocked_dates or [])

    def clean(self):
        cleaned = super().clean()
        hours = {}
        for day in range(7):
            text = (cleaned.get(day_field(day)) or "").strip()
            if not text:
                continue
            if text.lower() == CLOSED:
                hours[str(day)] = None
                continue
            start, sep, end = text.partition("-")
            span = [start.strip(), end.strip()]
            try:
                if not sep:
                    raise ValueError("write HH:MM-HH:MM, or “closed”")
                guard.parse_hours({str(day): span})
            except ValueError as exc:
                self.add_error(day_field(day), str(exc).replace(f'weekday "{day}": ', ""))
                continue
            hours[str(day)] = span
        self.instance.hours = hours
        dates = (cleaned.get("blocked_dates_text") or "").replace(",", "\n").split()
        try:
            self.instance.blocked_dates = sorted(d.isoformat() for d in guard.parse_dates(dates))
        except ValueError as exc:
            self.add_error("blocked_dates_text", str(exc))
        return cleaned


# A field per weekday, declared (the admin builds its form from declared fields).
CallingRuleForm = type(
    "CallingRuleForm",
    (CallingRuleFormBase,),
    {day_field(day): day_input(name) for day, name in enumerate(DAY_NAMES)},
)


@admin.register(CallingRule)
class CallingRuleAdmin(admin.ModelAdmin):
    form = CallingRuleForm
    list_display = ["__str__", "state", "timezone", "hours_summary", "blocked", "active"]
    list_filter = ["active", "state"]
    search_fields = ["name", "state", "timezone"]
    fieldsets = [
        (None, {"fields": ["name", "active", "state", "timezone"]}),
        (
            "Hours (local time of the lead)",
            {"fields": [day_field(d) for d in range(7)]},
        ),
        (None, {"fields": ["blocked_dates_text"]}),
    ]

    @admin.display(description="Hours")
    def hours_summary(self, obj):
        hours = obj.hours or {}
        parts = []
        for day in range(7):
            if str(day) not in hours:
                continue
            span = hours[str(day)]
            short = guard.WEEKDAYS[day]
            parts.append(f"{short} {span[0]}–{span[1]}" if span else f"{short} closed")
        return ", ".join(parts) or "not limited"

    @admin.display(description="Blocked dates")
    def blocked(self, obj):
        return len(obj.blocked_dates or [])


@admin.register(ContactPolicy)
class ContactPolicyAdmin(admin.ModelAdmin):
    list_display = ["__str__", "campaign", "channel", "max_per_24h", "max_per_7d", "over_budget"]
    list_filter = ["channel", "over_budget", "campaign"]
    list_select_related = ["campaign"]
    autocomplete_fields = ["campaign"]
    fields = ["campaign", "channel", "max_per_24h", "max_per_7d", "over_budget"]
