"""Create the main lobby and the "Moderators" group with the admin permissions it needs.

On a fresh database the model permissions do not exist yet during ``migrate`` (Django
creates them in post_migrate), so they are created here with the same content type,
codename and name Django would use; its later pass finds them and adds nothing.
"""

from django.db import migrations

MODERATORS_GROUP = "Moderators"

# (app label, model, verbose name, actions)
MODERATOR_PERMISSIONS = [
    ("users", "user", "user", ("view", "change")),
    ("rooms", "room", "room", ("view", "change", "delete")),
    ("rooms", "roomban", "room ban", ("view", "add", "change", "delete")),
    ("rooms", "chatmessage", "chat message", ("view", "delete")),
    ("rooms", "moderationaction", "moderation action", ("view",)),
]


def create_lobby_and_group(apps, schema_editor):
    Room = apps.get_model("rooms", "Room")
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")

    if not Room.objects.filter(name__iexact="lobby").exists():
        Room.objects.create(
            name="lobby",
            is_lobby=True,
            persistent=True,
            is_public=True,
            max_members=30,
            owner=None,
        )

    group, _ = Group.objects.get_or_create(name=MODERATORS_GROUP)
    for app_label, model, verbose_name, actions in MODERATOR_PERMISSIONS:
        content_type, _ = ContentType.objects.get_or_create(app_label=app_label, model=model)
        for action in actions:
            permission, _ = Permission.objects.get_or_create(
                content_type=content_type,
                codename=f"{action}_{model}",
                defaults={"name": f"Can {action} {verbose_name}"},
            )
            group.permissions.add(permission)


def remove_lobby_and_group(apps, schema_editor):
    Room = apps.get_model("rooms", "Room")
    Group = apps.get_model("auth", "Group")
    Group.objects.filter(name=MODERATORS_GROUP).delete()
    Room.objects.filter(is_lobby=True, name="lobby").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("rooms", "0002_initial"),
        ("users", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_lobby_and_group, remove_lobby_and_group)]
