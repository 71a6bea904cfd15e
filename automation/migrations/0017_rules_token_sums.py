import django.db.models
from django.db import migrations

import automation.models.workflows


class Migration(migrations.Migration):
    """rules_token: a random 48-bit number instead of a UUID, so that the
    database can sum them per group of workflows (automation.engine.rules.refresh).
    A UUID column does not cast to a number: dropped and added again."""

    dependencies = [
        ("automation", "0016_operator_group_per_spec"),
    ]

    operations = [
        migrations.RemoveField(model_name="workflow", name="rules_token"),
        migrations.AddField(
            model_name="workflow",
            name="rules_token",
            field=django.db.models.BigIntegerField(
                default=automation.models.workflows.new_rules_token, editable=False
            ),
        ),
    ]
