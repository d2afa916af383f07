# Skeletons drop symbols and what looks like a dash now (docs/security.md, "Names"): every
# stored name_key is made again. Usernames made by registration are ASCII letters, digits,
# dots, dashes and underscores and keep their key; one made elsewhere ("createsuperuser"
# allows "+") may not.

from django.db import migrations

from users.rules import username_key


def refill_name_keys(apps, schema_editor):
    User = apps.get_model("users", "User")
    for user in User.objects.only("pk", "username", "name_key").iterator():
        key = username_key(user.username)
        if key != user.name_key:
            User.objects.filter(pk=user.pk).update(name_key=key)


class Migration(migrations.Migration):

    dependencies = [
        ('users', '0004_ended_sign_ins'),
    ]

    operations = [
        migrations.RunPython(refill_name_keys, migrations.RunPython.noop),
    ]
