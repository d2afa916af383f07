"""ASGI entry point of the baseline: ``/ws/<room>/`` to the textbook consumer, HTTP to the
project's Django (so the harness's readiness probe works). Serve with Daphne and REDIS_URL
set (bench/baseline/settings.py then configures the textbook Redis channel layer)::

    REDIS_URL=redis://127.0.0.1:6379/0 daphne bench.baseline.asgi:application
"""

import os

from django.core.asgi import get_asgi_application

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.baseline.settings"

django_application = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from bench.baseline.consumers import BaselineRoomConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_application,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter([path("ws/<str:room>/", BaselineRoomConsumer.as_asgi())]))
        ),
    }
)
