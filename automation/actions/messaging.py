"""Executors that message the lead: EMAIL (Django's email backend), SMS and VB (providers)."""

from automation.actions.base import Executor, Result, Run
from automation.constants import ActionType
from automation.schema import Ref, Schema, Text
from leads import placeholders


class Email(Executor):
    type = ActionType.EMAIL
    internal = False
    schema = Schema({"template": Ref("leads.EmailTemplate")})

    def execute(self, run: Run) -> Result:
        raise NotImplementedError


class Sms(Executor):
    type = ActionType.SMS
    internal = False
    schema = Schema({"message": Text(max_length=1600, check=placeholders.validate)})

    def execute(self, run: Run) -> Result:
        raise NotImplementedError


class VoiceBroadcast(Executor):
    type = ActionType.VB
    internal = False
    schema = Schema({"message": Text(max_length=5000, check=placeholders.validate)})

    def execute(self, run: Run) -> Result:
        raise NotImplementedError
