"""The app's settings with the core RedisChannelLayer, to measure it against the default.

The app runs on RedisPubSubChannelLayer (app/settings.py). docs/experiments/chat.md compares
the two: ``DJANGO_SETTINGS_MODULE=benchmarks.chat_core_settings``.
"""

from app.settings import *  # noqa: F403
from app.settings import REDIS_KEY_PREFIX, REDIS_URL

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # redis-py 8 defaults socket_timeout to 5 s, the length of this layer's blocking
            # BZPOPMIN: idle receives then die with TimeoutError (django/channels_redis#422).
            "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
            "prefix": f"{REDIS_KEY_PREFIX}:asgi",
            "capacity": 1000,
            "expiry": 30,
        },
    }
}
