"""ModerationAction moves here from rooms: the model's state only, the table stays.

The table keeps its name (``rooms_moderationaction``), so no row moves; rooms' migration
0006 removes the model from rooms' state. The content type is renamed rather than replaced,
so the permissions that point at it (the Moderators group's view permission) and the admin's
history follow the model.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def move_content_type(apps, schema_editor):
    _relabel(apps, "rooms", "moderation")


def move_content_type_back(apps, schema_editor):
    _relabel(apps, "moderation", "rooms")


def _relabel(apps, old_label, new_label):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if ContentType.objects.filter(app_label=new_label, model="moderationaction").exists():
        return
    ContentType.objects.filter(app_label=old_label, model="moderationaction").update(
        app_label=new_label
    )


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("rooms", "0005_guest_address_keys"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ModerationAction",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "action",
                            models.CharField(
                                choices=[
                                    ("KICK", "Kick"),
                                    ("BAN", "Room ban"),
                                    ("UNBAN", "Room unban"),
                                    ("MUTE", "Mute"),
                                    ("UNMUTE", "Unmute"),
                                    ("GIVE_OWNERSHIP", "Give ownership"),
                                    ("UPDATE_ROOM", "Update room settings"),
                                    ("CLOSE_ROOM", "Close room"),
                                    ("DELETE_MESSAGE", "Delete chat messages"),
                                    ("SITE_BAN", "Site ban"),
                                    ("SITE_UNBAN", "Site unban"),
                                    ("SET_ROLE", "Change role"),
                                ],
                                max_length=32,
                            ),
                        ),
                        (
                            "source",
                            models.CharField(
                                choices=[
                                    ("WEBSOCKET", "Real-time"),
                                    ("API", "REST API"),
                                    ("ADMIN", "Admin site"),
                                ],
                                max_length=16,
                            ),
                        ),
                        ("actor_name", models.CharField(max_length=150)),
                        ("target_name", models.CharField(blank=True, max_length=150)),
                        ("room_name", models.CharField(blank=True, max_length=64)),
                        ("reason", models.CharField(blank=True, max_length=255)),
                        ("expires_at", models.DateTimeField(blank=True, null=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                        (
                            "actor",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="moderation_actions_taken",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "target_user",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="moderation_actions_received",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "room",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="moderation_actions",
                                to="rooms.room",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "rooms_moderationaction",
                        "ordering": ["-created_at", "-id"],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_type, move_content_type_back),
    ]
