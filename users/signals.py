"""Signals other apps listen to (the real-time layer closes a banned user's sockets)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent after the transaction that bans or unbans a user commits, with keyword arguments
# ``user_id`` and ``banned_until`` (None when the ban was lifted).
site_ban_changed = Signal()
