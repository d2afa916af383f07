"""ModerationAction now lives in the moderation app (its migration 0001): forget it here.

State only: the table ``rooms_moderationaction`` and its rows stay where they are.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("rooms", "0005_guest_address_keys"),
        ("moderation", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="ModerationAction")],
            database_operations=[],
        ),
    ]
