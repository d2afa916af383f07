"""The session authentication backend."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend

from users.models import User


class SiteBanAwareBackend(ModelBackend):
    """Django's model backend, but a site-banned user's session stops working at once.

    ``get_user`` runs for every request (and WebSocket handshake) with a session, so refusing
    banned users there logs them out everywhere. ``authenticate`` still accepts a banned
    user's right password so that login forms can say why they are refused; every login
    path then calls ``services.check_can_log_in``.
    """

    def get_user(self, user_id: Any) -> User | None:
        user = super().get_user(user_id)
        if user is None or user.is_site_banned:
            return None
        return user
