"""INTEGRATION (Convoso Connect): send the lead to an Endpoint through an Adaptor."""

from automation.actions.base import Executor, Result, Run
from automation.constants import ActionType
from automation.schema import Ref, Schema


class Integration(Executor):
    type = ActionType.INTEGRATION
    internal = False
    needs_lead = False
    schema = Schema(
        {
            "endpoint": Ref("automation.Endpoint"),
            "adaptor": Ref("automation.Adaptor", required=False),
        }
    )

    def execute(self, run: Run) -> Result:
        raise NotImplementedError
