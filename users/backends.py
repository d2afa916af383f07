"""The session authentication backend."""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

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


class LoginLockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout check (see ``users.lockout``), first in the chain.

    A sign-in without a request (a management command, a test client's ``login``) is not
    something a client on the network can repeat, so it is not counted, where axes itself
    would refuse it outright.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if request is None:
            return None
        # Raises PermissionDenied (which ends the sign-in) when the address or account is
        # locked out; otherwise the next backend decides.
        super().authenticate(request, username, password, **kwargs)
        return None
