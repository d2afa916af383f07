"""Settings for every environment, read from environment variables.

With nothing set this is the embedded configuration: DEBUG on, SQLite in ``var/``, the
in-memory channel layer and development keys generated on first run. With ``DEBUG=0``
it is production and refuses to start without SECRET_KEY, ALLOWED_HOSTS and the JWT
key files. The README has a table of every variable.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from observability.access import parse_networks
from observability.logs import logging_config
from pianorhythm import devkeys
from pianorhythm.env import env_bool, env_float, env_int, env_list, env_str, require

# Settings import no app: only pianorhythm.env and pianorhythm.devkeys, and the foundation and
# observability packages, which import no app either (the contracts in pyproject.toml).

# Django's admin classes, model forms and class-based views are generic in django-stubs but not
# at run time: this lets ``admin.ModelAdmin[Room]`` and the like be subscripted as base classes.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", True)
VERSION = "0.1.0"

if DEBUG:
    devkeys.private_directory(VAR_DIR)
    SECRET_KEY = env_str("SECRET_KEY") or devkeys.dev_secret_key(VAR_DIR)
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
    _jwt_private, _jwt_public = devkeys.dev_jwt_keys(VAR_DIR)
    JWT_PRIVATE_KEY_FILE = Path(env_str("JWT_PRIVATE_KEY_FILE", str(_jwt_private)))
    JWT_PUBLIC_KEY_FILE = Path(env_str("JWT_PUBLIC_KEY_FILE", str(_jwt_public)))
else:
    SECRET_KEY = require("SECRET_KEY")
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS") or [require("ALLOWED_HOSTS")]
    JWT_PRIVATE_KEY_FILE = Path(require("JWT_PRIVATE_KEY_FILE"))
    JWT_PUBLIC_KEY_FILE = Path(require("JWT_PUBLIC_KEY_FILE"))

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "axes",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_prometheus",
    "csp",
    "channels",
    "users",
    "moderation",
    "rooms",
    "realtime",
    "analytics",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # Request id and user id in every log line of the request; the access log line.
    "observability.middleware.RequestContextMiddleware",
    # A null character in the address is a 400 before it reaches a lookup.
    "foundation.middleware.RefuseNullCharactersMiddleware",
    # An unknown path under /api/ is the API's JSON 404, DEBUG on or off.
    "foundation.middleware.ApiNotFoundMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A view that gets no database connection from the pool in time: 503, not 500.
    "foundation.database.DatabaseBusyMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as django-axes asks: turns a locked-out sign-in into its 429 (users.lockout).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "pianorhythm.urls"
WSGI_APPLICATION = "pianorhythm.wsgi.application"
ASGI_APPLICATION = "pianorhythm.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
# SQLite file by default; DATABASE_URL (postgres://user@host:5432/name) switches to
# PostgreSQL through psycopg 3. Tests use a SQLite *file*: async tests cannot share an
# in-memory database between threads.
DATABASE_URL = env_str("DATABASE_URL")
# Connections one process may hold on PostgreSQL, and how long a request waits for one of
# them before it is answered 503 (foundation.database). Several instances share the
# server's max_connections (100 by default): instances x DATABASE_POOL_SIZE must fit.
DATABASE_POOL_SIZE = env_int("DATABASE_POOL_SIZE", 10, minimum=1)
DATABASE_POOL_TIMEOUT = env_float("DATABASE_POOL_TIMEOUT", 5.0)
if not 0.1 <= DATABASE_POOL_TIMEOUT <= 60.0:
    raise ImproperlyConfigured("DATABASE_POOL_TIMEOUT must be between 0.1 and 60")
if env_str("DATABASE_CONN_MAX_AGE") not in ("", "0"):
    # Under ASGI every request runs in a thread of its own, and a kept connection stays with
    # its thread: they piled up until PostgreSQL refused new clients (docs/operations.md).
    raise ImproperlyConfigured(
        "DATABASE_CONN_MAX_AGE is no longer supported: PostgreSQL connections come from a "
        "pool of DATABASE_POOL_SIZE; unset it"
    )
if DATABASE_URL:
    # Never kept past a request: see DATABASE_CONN_MAX_AGE above. The pool reuses them.
    _database = dj_database_url.parse(DATABASE_URL, conn_max_age=0, conn_health_checks=True)
    if _database["ENGINE"] == "django.db.backends.postgresql":
        _database.setdefault("OPTIONS", {})["pool"] = {
            "min_size": min(2, DATABASE_POOL_SIZE),
            "max_size": DATABASE_POOL_SIZE,
            "timeout": DATABASE_POOL_TIMEOUT,
        }
    DATABASES = {"default": _database}
else:
    devkeys.private_directory(VAR_DIR)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(devkeys.private_file(VAR_DIR / "db.sqlite3")),
            # IMMEDIATE: a transaction takes SQLite's single write lock when it begins, so
            # that "count, then insert" runs alone (rooms per account), not interleaved.
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
            "TEST": {"NAME": str(VAR_DIR / "test.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer and cache ------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
REDIS_PREFIX = env_str("REDIS_PREFIX", "pianorhythm")
if REDIS_URL:
    # redis-py 8's 5 s socket timeout equals channels-redis' 5 s blocking read, and its
    # pool of 100 is too small for a busy instance: both drop sockets under load.
    _redis_host: dict[str, Any] = {
        "address": REDIS_URL,
        "socket_timeout": env_float("REDIS_SOCKET_TIMEOUT", 30.0),
        "socket_connect_timeout": 5,
        "max_connections": env_int("REDIS_MAX_CONNECTIONS", 2000, minimum=10),
        "health_check_interval": 15,
    }
    # The pub/sub layer: a group is one Redis subscription per process and a group_send one
    # PUBLISH, which is exactly the hub's shape (docs/architecture.md, The path of a note);
    # the list-based core layer costs a Lua script per send and a blocking pop per receive.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [_redis_host], "prefix": REDIS_PREFIX},
        }
    }
    # Two caches: "default" holds counters that limits rest on (throttles, password guesses),
    # "ephemeral" what clients can make in numbers (realtime tickets, guests' addresses), so
    # that making many of those can never push a counter out.
    CACHES: dict[str, dict[str, Any]] = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": REDIS_PREFIX,
        },
        "ephemeral": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"{REDIS_PREFIX}:ephemeral",
        },
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    # In one process: two separate in-memory caches, each forgetting its least recently used
    # entries past MAX_ENTRIES (see the Redis caches above for why two).
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "limits",
            "OPTIONS": {"MAX_ENTRIES": 200_000},
        },
        "ephemeral": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "ephemeral",
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        },
    }

# --- Auth ---------------------------------------------------------------------------------
AUTH_USER_MODEL = "users.User"
# Wrong-password lockout first (django-axes), then the model backend, under which sessions
# of site-banned users stop working at once.
AUTHENTICATION_BACKENDS = [
    "users.backends.LoginLockoutBackend",
    "users.backends.SiteBanAwareBackend",
]

# Repeated wrong passwords lock out the address and the account on every login path (the
# admin, the web page, the API) for a while: users.lockout.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_CLIENT_IP_CALLABLE = "users.lockout.client_address"
AXES_USERNAME_CALLABLE = "users.lockout.username_of"
AXES_LOCKOUT_CALLABLE = "users.lockout.lockout_response"
# A success must not reset an address's failures: an attacker would sign in to their own
# account between guesses.
AXES_RESET_ON_SUCCESS = False
AXES_VERBOSE = False
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

GUESTS_ALLOWED = env_bool("GUESTS_ALLOWED", True)
# Sockets open at once, on all instances together: guests from one address (a school or a
# household behind one public address shares it) and one account (tabs, bots) from anywhere.
MAX_GUEST_SOCKETS_PER_ADDRESS = env_int("MAX_GUEST_SOCKETS_PER_ADDRESS", 32, minimum=1)
MAX_SOCKETS_PER_ACCOUNT = env_int("MAX_SOCKETS_PER_ACCOUNT", 8, minimum=1)
# Rooms one account may own (site moderators: any number).
MAX_ROOMS_PER_ACCOUNT = env_int("MAX_ROOMS_PER_ACCOUNT", 10, minimum=1)
# Rooms in the live lobby list: the main lobby, then the busiest (a search finds the others).
# At most 100, so that the list always fits in one frame.
ROOM_LIST_LIMIT = env_int("ROOM_LIST_LIMIT", 100, minimum=1, maximum=100)
# A request (line, headers, body) must arrive whole within this many seconds of its
# connection opening, or the connection is dropped (pianorhythm.server).
HTTP_REQUEST_TIMEOUT = env_float("HTTP_REQUEST_TIMEOUT", 15.0)
if not 1.0 <= HTTP_REQUEST_TIMEOUT <= 300.0:
    raise ImproperlyConfigured("HTTP_REQUEST_TIMEOUT must be between 1 and 300")
# The largest WebSocket message either way (the interface server enforces it on what clients
# send; the server never sends a bigger frame). Never less than 64 KiB: the largest message
# the server makes (a full room's state, a 300-note batch in JSON) is bounded below that.
WEBSOCKET_MAX_MESSAGE_BYTES = env_int("WEBSOCKET_MAX_MESSAGE_BYTES", 65536, minimum=65536)
# Proxies in front of the server: the client address is the one the outermost of them saw
# (X-Forwarded-For), for throttles, lockouts, per-address limits and /metrics.
NUM_PROXIES = env_int("NUM_PROXIES", 0, minimum=0)
# A socket that sends nothing (clients send time_sync every 20 s) for this long is closed.
REALTIME_IDLE_SECONDS = env_int("REALTIME_IDLE_SECONDS", 120, minimum=10)

JWT_AUDIENCE = env_str("JWT_AUDIENCE", "pianorhythm")
JWT_ISSUER = env_str("JWT_ISSUER", "pianorhythm")
SIMPLE_JWT = {
    "ALGORITHM": "EdDSA",
    "SIGNING_KEY": JWT_PRIVATE_KEY_FILE.read_text(),
    "VERIFYING_KEY": JWT_PUBLIC_KEY_FILE.read_text(),
    "AUDIENCE": JWT_AUDIENCE,
    "ISSUER": JWT_ISSUER,
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 5, minimum=1)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 7, minimum=1)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "LEEWAY": 5,
}

# --- REST API -----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "users.authentication.ActiveUserJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PARSER_CLASSES": [
        "foundation.api.JSONBodyParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "foundation.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "observability.throttles.AnonRateThrottle",
        "observability.throttles.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("THROTTLE_ANON", "120/min"),
        "user": env_str("THROTTLE_USER", "600/min"),
        "auth": env_str("THROTTLE_AUTH", "10/min"),
        "register": env_str("THROTTLE_REGISTER", "10/hour"),
        "tickets": env_str("THROTTLE_TICKETS", "30/min"),
    },
    "NUM_PROXIES": NUM_PROXIES,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "PianoRhythm API",
    "DESCRIPTION": "Rooms, accounts and moderation for the PianoRhythm multiplayer piano.",
    "VERSION": VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI's files come from this server, not a CDN: it works offline and under a CSP.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS")
CORS_URLS_REGEX = r"^/api/.*$"

# --- Static files -------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
# In development WhiteNoise serves straight from the source folders; production serves the
# hashed, compressed files `collectstatic` writes to STATIC_ROOT.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
if DEBUG:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Security -----------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
X_FRAME_OPTIONS = "DENY"
# Every response gets a Content-Security-Policy: scripts, styles and connections from this
# site only, nothing inline and no eval. CSP Level 3 lets 'self' match ws:/wss: to this host.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "media-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    if env_bool("SECURE_PROXY_SSL_HEADER", False):
        # Only behind a proxy that always sets (and strips client-sent) X-Forwarded-Proto.
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Logging ------------------------------------------------------------------------------
# Everything goes to stdout through one handler that adds the request id, user id, session
# id and room, and removes passwords, tokens, tickets and chat text (observability.logs).
# LOG_FORMAT=json (production default): one JSON object per line; text: readable lines.
LOG_FORMAT = env_str("LOG_FORMAT", "text" if DEBUG else "json").lower()
LOGGING = logging_config(LOG_FORMAT, env_str("LOG_LEVEL", "INFO").upper())

# --- Errors, metrics and statistics (analytics) ---------------------------------------------
# Sentry reports errors only when SENTRY_DSN is set, with no personal data (observability.errors).
SENTRY_DSN = env_str("SENTRY_DSN")


def _sample_rate(name: str, default: float) -> float:
    """A sampling rate between 0 and 1 from the environment variable ``name``."""
    rate = env_float(name, default)
    if not 0.0 <= rate <= 1.0:
        raise ImproperlyConfigured(f"{name} must be between 0 and 1; got {rate}")
    return rate


if SENTRY_DSN:
    from observability.errors import init_sentry

    init_sentry(
        SENTRY_DSN,
        environment=env_str("SENTRY_ENVIRONMENT", "development" if DEBUG else "production"),
        release=env_str("SENTRY_RELEASE", f"pianorhythm@{VERSION}"),
        sample_rate=_sample_rate("SENTRY_SAMPLE_RATE", 1.0),
        traces_sample_rate=_sample_rate("SENTRY_TRACES_SAMPLE_RATE", 0.0),
    )

# /metrics answers these addresses and CIDR blocks (the client address honours NUM_PROXIES),
# and any client sending "Authorization: Bearer <METRICS_TOKEN>".
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", ["127.0.0.1", "::1"])
try:
    METRICS_ALLOWED_NETWORKS = parse_networks(METRICS_ALLOWED_IPS)
except ValueError as _exc:
    raise ImproperlyConfigured(f"METRICS_ALLOWED_IPS: {_exc}") from None
METRICS_TOKEN = env_str("METRICS_TOKEN")

# Statistics counted in memory are written to the database this often (analytics.stats).
STATS_FLUSH_SECONDS = env_float("STATS_FLUSH_SECONDS", 10.0)
if not 0.1 <= STATS_FLUSH_SECONDS <= 10.0:
    raise ImproperlyConfigured("STATS_FLUSH_SECONDS must be between 0.1 and 10")
