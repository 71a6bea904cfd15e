"""Turn saves into occurrences for the workflow engine (SPEC §4.2).

Every receiver runs inside the transaction of the change (the models' save()
and delete() open one), so trigger records and pending actions commit or roll
back with it. Queryset `update()` and `bulk_create()` (a bulk import) send no
signals and fire no workflows; `automation.engine.occurrences.silenced()` mutes
single saves too.
"""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from automation.engine import handler as engine
from automation.engine.occurrences import Occurrence, call_data, causing_chain
from leads.models import Callback, HopperEntry, HopperState, Lead, call_change_for


def lead_occurrence(lead, action):
    change = call_change_for(lead) if action != "delete" else None
    call = change.call if change is not None else None
    status_from = lead.loaded_value("status_id") if action == "save" else None
    disposition = previous = None
    redisposition = False
    if call is not None:
        disposition = call.disposition_id
        if change.redisposed:
            previous = change.previous_disposition
            redisposition = previous is not None and previous != disposition
            if previous == disposition:
                disposition = None  # the same disposition again: nothing was set
    return Occurrence(
        lead_id=lead.pk,
        occurred_at=timezone.now(),
        lead_action=action,
        status_from=status_from,
        status_to=lead.status_id,
        changed_fields=frozenset(lead.changed_fields()) if action == "save" else frozenset(),
        call=call_data(call) if call is not None else None,
        disposition=disposition,
        previous_disposition=previous,
        redisposition=redisposition,
        chain=causing_chain.get(),
    )


@receiver(post_save, sender=Lead, dispatch_uid="lead_saved")
def lead_saved(sender, instance, created, raw=False, **kwargs):
    if raw:
        return
    engine.handle(lead_occurrence(instance, "create" if created else "save"), instance)


@receiver(post_delete, sender=Lead, dispatch_uid="lead_deleted")
def lead_deleted(sender, instance, **kwargs):
    engine.handle(lead_occurrence(instance, "delete"), instance)


@receiver(post_save, sender=Callback, dispatch_uid="callback_scheduled")
def callback_scheduled(sender, instance, created, raw=False, **kwargs):
    if raw or not created:
        return
    occ = Occurrence(
        lead_id=instance.lead_id,
        occurred_at=timezone.now(),
        callback_id=instance.pk,
        chain=causing_chain.get(),
    )
    engine.handle(occ, instance.lead)


@receiver(post_save, sender=HopperEntry, dispatch_uid="hopper_expired")
def hopper_expired(sender, instance, created, raw=False, **kwargs):
    if raw or instance.state != HopperState.EXPIRED:
        return
    if not created and instance.state_when_loaded == HopperState.EXPIRED:
        return  # already expired before this save
    occ = Occurrence(
        lead_id=instance.lead_id,
        occurred_at=timezone.now(),
        hopper_entry_id=instance.pk,
        chain=causing_chain.get(),
    )
    engine.handle(occ, instance.lead)
