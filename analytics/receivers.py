"""Signal receivers that turn other apps' happenings into analytics events.

Connected in ``AnalyticsConfig.ready``. Logins are counted from the ``last_login`` update that
both sign-in paths make (the session login through Django's ``update_last_login``, the token
login through ``users.services.record_login``), so each sign-in is one event whichever way
it came; registrations from the new member account; room events from the Room model;
moderation from the audit log. Each event is stored after the surrounding transaction
commits, so a rolled-back change leaves no event.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.http import HttpRequest

from analytics import services
from analytics.models import Event
from moderation.models import ModerationAction
from rooms.models import Room
from users.models import User


def _on_commit(kind: str, **fields: Any) -> None:
    transaction.on_commit(lambda: services.record_event(kind, **fields))


def user_saved(
    sender: type[User],
    instance: User,
    created: bool,
    update_fields: frozenset[str] | None,
    raw: bool = False,
    **kwargs: Any,
) -> None:
    if raw:  # loaddata
        return
    if created:
        if instance.role != User.Role.GUEST:
            _on_commit(Event.Kind.REGISTRATION, user_id=instance.pk)
    elif update_fields is not None and set(update_fields) == {"last_login"}:
        _on_commit(Event.Kind.LOGIN, user_id=instance.pk)


def user_logged_out_receiver(
    sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any
) -> None:
    if isinstance(user, User):
        _on_commit(Event.Kind.LOGOUT, user_id=user.pk, data={"via": "session"})


def room_saved(
    sender: type[Room], instance: Room, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if created and not raw:
        _on_commit(
            Event.Kind.ROOM_CREATED,
            user_id=instance.owner_id,
            room_id=instance.pk,
            room_name=instance.name,
            data={"lobby": instance.is_lobby},
        )


def room_deleted(sender: type[Room], instance: Room, **kwargs: Any) -> None:
    _on_commit(Event.Kind.ROOM_DELETED, room_id=instance.pk, room_name=instance.name)


def moderation_recorded(
    sender: type[ModerationAction],
    instance: ModerationAction,
    created: bool,
    raw: bool = False,
    **kwargs: Any,
) -> None:
    if not created or raw:
        return
    _on_commit(
        Event.Kind.MODERATION,
        user_id=instance.actor_id,
        room_id=instance.room_id,
        room_name=instance.room_name,
        data={
            "action": instance.action,
            "source": instance.source,
            "target_user_id": instance.target_user_id,
            "target": instance.target_name,
            "moderation_action_id": instance.pk,
        },
    )


def connect() -> None:
    post_save.connect(user_saved, sender=User, dispatch_uid="analytics.user_saved")
    user_logged_out.connect(user_logged_out_receiver, dispatch_uid="analytics.user_logged_out")
    post_save.connect(room_saved, sender=Room, dispatch_uid="analytics.room_saved")
    post_delete.connect(room_deleted, sender=Room, dispatch_uid="analytics.room_deleted")
    post_save.connect(
        moderation_recorded, sender=ModerationAction, dispatch_uid="analytics.moderation"
    )
