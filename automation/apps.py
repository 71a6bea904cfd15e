from django.apps import AppConfig
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete


class AutomationConfig(AppConfig):
    name = "automation"
    verbose_name = "Workflow Automation"

    def ready(self):
        from automation import checks  # noqa: F401
        from automation.document.fields import refuse_removal
        from automation.document.references import saved
        from automation.engine.records import lock_for_deletion
        from automation.engine.rules import bump
        from automation.models import Action, ActionSet, EventCondition, Workflow
        from leads.models import CustomField, List, Status

        # Any change to what the compiled rule index holds bumps its version.
        for model in (Workflow, EventCondition, ActionSet, Action, Status, List):
            post_save.connect(bump, sender=model, dispatch_uid=f"rules-save-{model.__name__}")
            post_delete.connect(bump, sender=model, dispatch_uid=f"rules-delete-{model.__name__}")
        pre_delete.connect(lock_for_deletion, sender=Workflow, dispatch_uid="workflow-lock")
        for attr in Workflow.RELATION_FIELDS.values():
            through = getattr(Workflow, attr).through
            m2m_changed.connect(bump, sender=through, dispatch_uid=f"rules-m2m-{attr}")
        # What a workflow uses is recorded whenever one of its rows is saved (the
        # document's store, which writes in bulk, and the admin call `sync` themselves).
        for model in (EventCondition, Action):
            post_save.connect(saved, sender=model, dispatch_uid=f"uses-save-{model.__name__}")
        # A declared custom field that something names is not removed (SPEC C.2); its
        # type is what conditions compare by, so a change compiles every rule again.
        pre_delete.connect(refuse_removal, sender=CustomField, dispatch_uid="field-removal")
        post_save.connect(bump, sender=CustomField, dispatch_uid="rules-save-CustomField")
        post_delete.connect(bump, sender=CustomField, dispatch_uid="rules-delete-CustomField")
