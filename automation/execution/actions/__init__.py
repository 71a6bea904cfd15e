"""The registry of the 12 action types: label → executor (config schema + behaviour)."""

from automation.document.schema import ConfigError, shown
from automation.execution.actions.integration import Integration
from automation.execution.actions.internal import (
    CallbackAction,
    CallbackUpdate,
    Dnc,
    Field,
    Hopper,
    Move,
    Revenue,
    StatusChange,
)
from automation.execution.actions.messaging import Email, Sms, VoiceBroadcast

EXECUTORS = {
    executor.type: executor()
    for executor in (
        Integration, Email, Move, StatusChange, Sms, VoiceBroadcast, Field, CallbackAction,
        CallbackUpdate, Hopper, Dnc, Revenue,
    )
}  # fmt: skip


def validate(action_type, config, path="config", stored=False):
    """Clean one action's config, or raise ConfigError naming the path. `stored`: the
    config as stored (references by id), else as the document gives it (by key)."""
    executor = EXECUTORS.get(action_type) if isinstance(action_type, str) else None
    if executor is None:
        raise ConfigError.at(
            path.rsplit(".", 1)[0] + ".type",
            f"unknown action type {shown(action_type)}",
        )
    return executor.validate(config, path, stored)
