"""The baseline's settings: the project's, with the textbook Redis channel layer.

The project uses channels-redis' pub/sub layer; the reference the benchmark compares against
is the layer most Channels tutorials use, the list-based ``RedisChannelLayer``.
"""

from pianorhythm.settings import *  # noqa: F403
from pianorhythm.settings import REDIS_PREFIX, REDIS_URL

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": 30, "max_connections": 2000}],
                "prefix": REDIS_PREFIX + "-baseline",
            },
        }
    }
