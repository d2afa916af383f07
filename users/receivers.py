"""What follows from an account changing, however it was changed (a service, the admin's
forms, ``manage.py changepassword``, a script): tokens revoked and live sockets told.

The receivers compare the saved account with what was loaded (``User.changed_fields``), so
a save that changes nothing watched (the last-login time) costs nothing.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from users import services
from users.models import User
from users.signals import credentials_changed, identity_changed

#: Changes that alter how a live socket's player appears or what it may do.
IDENTITY_FIELDS = frozenset(
    {"role", "is_staff", "is_superuser", "username", "display_name", "color"}
)


def _after_commit(signal: Any, **kwargs: Any) -> None:
    transaction.on_commit(lambda: signal.send(sender=User, **kwargs))


@receiver(post_save, sender=User)
def on_user_saved(sender: Any, instance: User, created: bool, **kwargs: Any) -> None:
    changed = set() if created else instance.changed_fields()
    instance.remember_saved_state()
    if not changed:
        return
    user_id = instance.pk
    if "password" in changed:
        services.revoke_all_tokens(instance)
        _after_commit(credentials_changed, user_id=user_id, why="password")
    elif "is_active" in changed and not instance.is_active:
        _after_commit(credentials_changed, user_id=user_id, why="deactivated")
    if changed & IDENTITY_FIELDS:
        _after_commit(identity_changed, user_id=user_id)


@receiver(post_delete, sender=User)
def on_user_deleted(sender: Any, instance: User, **kwargs: Any) -> None:
    _after_commit(credentials_changed, user_id=instance.pk, why="deleted")
