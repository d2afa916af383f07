"""ASGI entry point: HTTP through Django, WebSockets through the real-time router."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pianorhythm.settings")

# Django must be set up before anything imports models.
django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from realtime.routing import websocket_application  # noqa: E402

application = ProtocolTypeRouter({"http": django_application, "websocket": websocket_application})

# Everything loaded so far (Django, the apps, their modules: ~150,000 objects) lives as long as
# the process. Out of the garbage collector's sight, it is no longer walked by every full
# collection, which otherwise stops the event loop for 50-90 ms now and then under load
# (docs/architecture.md, Garbage collection).
gc.freeze()
