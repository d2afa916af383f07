"""The web client's pages: the lobby (home), a room, and the protocol schema the browser loads.

The pages are shells: everything live (the room list, the keyboard, chat) comes over the
WebSocket, decoded in the browser with the very ``.proto`` file the server uses.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from rooms import room_settings, rules
from rooms.room_settings import BOOLEAN_SETTINGS, SETTINGS_BY_NAME
from users import rules as user_rules
from users.guests import GUEST_COOKIE, guest_cookie_value, guest_id_from_cookie, new_guest_id

PROTOCOL_FILE: Path = (
    Path(settings.BASE_DIR) / "realtime" / "proto" / "pianorhythm" / "v1" / "protocol.proto"
)


def give_guest_id(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Keep a guest id in an anonymous visitor's signed guest cookie.

    The socket handshake reads it, so a guest stays the same ``Guest-xxxx`` (and can be
    moderated as one) across reconnects and pages of one browser session. It lives in a
    cookie that ends with the browser session, not in a session row: crawlers and one-off
    visitors cost the database nothing.
    """
    if request.user.is_authenticated:
        return response
    if guest_id_from_cookie(request.COOKIES.get(GUEST_COOKIE)) is None:
        response.set_cookie(
            GUEST_COOKIE,
            guest_cookie_value(new_guest_id()),
            httponly=True,
            samesite="Lax",
            secure=settings.SESSION_COOKIE_SECURE,
        )
    return response


def _page_context(request: HttpRequest) -> dict[str, object]:
    return {
        "room_limits": {
            "min_members": room_settings.MIN_MEMBERS,
            "max_members": room_settings.MAX_MEMBERS,
            "name_max": rules.NAME_MAX_LENGTH,
            "chat_max": rules.CHAT_MAX_LENGTH,
            "welcome_max": room_settings.WELCOME_MAX_LENGTH,
            "password_max": room_settings.PASSWORD_MAX_LENGTH,
            "display_name_max": user_rules.DISPLAY_NAME_MAX,
        },
    }


@require_safe
def lobby(request: HttpRequest) -> HttpResponse:
    """Home: the live room list and the create-room form."""
    context = {**_page_context(request), "room_list_limit": settings.ROOM_LIST_LIMIT}
    return give_guest_id(request, render(request, "rooms/lobby.html", context))


@require_safe
def room(request: HttpRequest, name: str) -> HttpResponse:
    """A room: the keyboard, members and chat. Whether it exists is the socket's answer."""
    if not name.strip() or len(name) > rules.NAME_MAX_LENGTH:
        raise Http404("No such room.")
    context = {
        **_page_context(request),
        "room_name": name,
        # The room-settings form: its labels, and one checkbox per on/off setting.
        "room_settings": SETTINGS_BY_NAME,
        "setting_checks": [SETTINGS_BY_NAME[flag] for flag in BOOLEAN_SETTINGS],
    }
    return give_guest_id(request, render(request, "rooms/room.html", context))


@require_safe
def protocol_schema(request: HttpRequest) -> FileResponse:
    """The protocol's ``.proto`` file, read from where the server's own code is generated
    from, so the browser can never speak a stale schema."""
    response = FileResponse(PROTOCOL_FILE.open("rb"), content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    return response
