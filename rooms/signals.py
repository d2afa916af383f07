"""Events the rooms services announce after their transaction commits.

The real-time layer connects to these to update live sockets (a ban or a room closed in
the admin or over REST takes effect on sockets within seconds); nothing here knows about
sockets. Every signal is sent with ``sender=Room`` and the keyword arguments listed.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.dispatch import Signal

from rooms.models import Room

# room: Room, changed: frozenset[str]
room_updated = Signal()
# room_id: UUID, room_name: str, reason: str
room_closed = Signal()
# room: Room, user_id: int | None, guest_id: str, expires_at: datetime | None, reason: str
member_banned = Signal()
# room: Room, owner_user_id: int | None
owner_changed = Signal()
# room_id: UUID, message_ids: list[int]
chat_messages_deleted = Signal()


def send_on_commit(signal: Signal, **kwargs: Any) -> None:
    """Send ``signal`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: signal.send(sender=Room, **kwargs))
