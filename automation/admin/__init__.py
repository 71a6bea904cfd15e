"""The workflow admin: one module per screen family, each registering its own."""

from automation.admin import enrollment, fields, guard, integration, logs, workflows  # noqa: F401
