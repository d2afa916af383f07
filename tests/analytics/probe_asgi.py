"""The project's ASGI application plus one test-only route that counts notes in the recorder.

Stands in for the real-time layer in the shutdown test: ``GET /probe/notes`` records notes
in the process's statistics recorder, as a note batch will.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pianorhythm.settings")

from pianorhythm.asgi import application as project_application

PROBE_ROOM = "6f1c2a52-3f8e-4a53-9d43-1b2c3d4e5f60"
PROBE_NOTES = 123


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http" and scope["path"] == "/probe/notes":
        from analytics import stats

        stats.record_notes(PROBE_NOTES, room_id=PROBE_ROOM, room_name="probe")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"counted"})
        return
    await project_application(scope, receive, send)
