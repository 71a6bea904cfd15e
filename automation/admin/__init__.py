"""The workflow admin: one module per screen family, each registering its own."""

from automation.admin import fields, guard, integration, logs, workflows  # noqa: F401
