"""The one settings module; every deployment difference comes from the environment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url

from app.core import embedded

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = embedded.VAR


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise RuntimeError("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "dev-insecure-instalab-key-change-me-in-production-0123456789"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list(
    "CSRF_TRUSTED_ORIGINS", "http://127.0.0.1:8000,http://localhost:8000"
)

# The lab: strategy switching per request is on in dev, lab and test, off in production.
LAB_EXPERIMENTS = env_bool("LAB_EXPERIMENTS", DEBUG)
SILK = env_bool("SILK", False)
TESTING = os.environ.get("LAB_TESTING") == "1"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "channels",
    "django_rq",
    "ninja",
    "app.core",
    "app.lab",
    "app.accounts",
    "app.posts",
    "app.feed",
    "app.recs",
    "app.chat",
    "app.search",
    "app.notifications",
    "app.web",
]

# Each one runs on every request: a warm API request spends about as much CPU here as in its
# view (docs/experiments/hotpaths.md), so nothing is listed that no page uses (Django's
# flash messages, for one).
MIDDLEWARE = [
    "app.lab.middleware.ServerTimingMiddleware",
    # Inside Server-Timing, whose per-request stats it reads for the SQL count.
    "app.lab.metrics.MetricsMiddleware",
    # Before anything reads the body.
    "app.core.bodylimit.RequestSizeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "app.lab.middleware.ContentSecurityPolicyMiddleware",
    # Outside sessions and auth, which read Redis: a read that met a Redis outage is served
    # again from PostgreSQL, and a database outage is a fast 503 (docs/reliability.md).
    "app.core.middleware.DegradeMiddleware",
    # Which database this request reads, and the client's last write position after a write.
    "app.core.replicas.ReplicaMiddleware",
    "app.accounts.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A create request's Idempotency-Key, stored with its write (docs/reliability.md).
    "app.core.idempotency.IdempotencyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "app.lab.middleware.StrategyMiddleware",
]

ROOT_URLCONF = "app.urls"
WSGI_APPLICATION = "app.wsgi.application"
ASGI_APPLICATION = "app.asgi.application"
AUTH_USER_MODEL = "accounts.User"
# ModelBackend with the per-request user load served from Redis (app/accounts/usercache.py).
AUTHENTICATION_BACKENDS = ["app.accounts.backends.CachedModelBackend"]
LOGIN_URL = "/login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ],
        },
    },
]

# --- Servers ----------------------------------------------------------------------------
# With neither URL set, the embedded servers under var/ are used: app/core/embedded.py says
# where they listen, and ops/services.py (`make services`) starts them.
EMBEDDED_SERVICES = embedded.embedded_enabled()
DATABASE_URL = os.environ.get("DATABASE_URL") or embedded.database_url()
REDIS_URL = os.environ.get("REDIS_URL") or embedded.redis_url()
# Redis by role (app/core/redisroles.py, docs/scaling.md): each role reads its own URL and
# falls back to REDIS_URL, so one server serves all four unless told otherwise.
# - the cache (CACHES "default" and the sessions): page, feed, inbox and user caches;
REDIS_CACHE_URL = os.environ.get("REDIS_CACHE_URL") or REDIS_URL
# - the channel layer: comma-separated URLs, each group on one of them (channels_redis's
#   consistent hash of the group name), so realtime traffic spreads over several servers;
REDIS_CHANNELS_URLS = [
    url.strip()
    for url in (os.environ.get("REDIS_CHANNELS_URLS") or REDIS_URL).split(",")
    if url.strip()
]
# - the job queues (RQ: fan-out, training);
REDIS_QUEUES_URL = os.environ.get("REDIS_QUEUES_URL") or REDIS_URL
# - rate limits, chat's room locks and throttles, and presence (CACHES "limits").
REDIS_LIMITS_URL = os.environ.get("REDIS_LIMITS_URL") or REDIS_URL

_db: dict[str, Any] = dict(dj_database_url.parse(DATABASE_URL))
# Query-string parameters of the URL (a unix socket's ?host=&port=): a replica has its own.
_url_options = set(_db.get("OPTIONS", {}))
# Django's PostgreSQL backend that fails fast while the server is down (app/core/postgres).
_db["ENGINE"] = "app.core.postgres"
_db["CONN_MAX_AGE"] = 0  # pooled below; CONN_MAX_AGE leaks under ASGI (Django #33497)
_db["CONN_HEALTH_CHECKS"] = True
_db["OPTIONS"] = {
    **_db.get("OPTIONS", {}),
    # Per connection, so they cost no query per request:
    # - search's fuzzy username match (`%`): 0.2 lets `jonh` find `john` (similarity 0.25);
    # - random_page_cost 1.1 for SSD-backed storage, as the embedded server is configured
    #   (ops/services.py). PostgreSQL's default of 4 models spinning disks and, on a
    #   default-configured server, tips search's candidate scans into sequential scans;
    # - no parallel workers: on two cores serving concurrent requests, a Gather takes cores
    #   from other requests, and it made the planner prefer sorting every match of a common
    #   search word (47 ms at medium) over walking the recency index (8 ms) (search.md).
    "options": (
        "-c pg_trgm.similarity_threshold=0.2 -c random_page_cost=1.1"
        " -c max_parallel_workers_per_gather=0"
    ),
    # libpq gives up on an unanswered connect after this long (its floor is 2 s); a stopped
    # server refuses at once.
    "connect_timeout": 2,
    # Per process. Keep workers x max_size under PostgreSQL's max_connections (200 embedded).
    # A request waits at most DB_POOL_TIMEOUT for a connection, then fails fast with 503:
    # during an outage, requests must not pile up behind the pool (docs/reliability.md).
    # With CONN_HEALTH_CHECKS (above) the pool tests a connection before handing it out, so
    # connections a database restart killed are replaced instead of failing one request each.
    "pool": {
        "min_size": int(os.environ.get("DB_POOL_MIN", "1")),
        "max_size": int(os.environ.get("DB_POOL_MAX", "8")),
        "timeout": float(os.environ.get("DB_POOL_TIMEOUT", "1.0")),
        # The pool retries a failed connect with backoff (1, 2, 4, 8 s...); after a 15 s outage
        # the next try could come 16 s after the server is back. Giving up a retry series
        # after 2 s lets the next request start a fresh one at once: recovery within seconds.
        "reconnect_timeout": 2.0,
    },
}
# Several checkouts or helpers can test on one server at once without sharing a test database.
_db["TEST"] = {"NAME": f"test_{_db['NAME']}{os.environ.get('LAB_TEST_DB_SUFFIX', '')}"}
DATABASES = {"default": _db}

# Read replicas (docs/scaling.md): DATABASE_REPLICA_URLS, comma-separated standbys of
# DATABASE_URL. A GET request's reads go to one that has replayed the client's last write
# (app/core/replicas.py); writes, transactions and everything outside requests use the primary.
DATABASE_REPLICA_URLS = [
    url.strip() for url in os.environ.get("DATABASE_REPLICA_URLS", "").split(",") if url.strip()
]
DATABASE_REPLICAS: list[str] = []
for _number, _url in enumerate(DATABASE_REPLICA_URLS, start=1):
    _alias = f"replica{_number}"
    _parsed = dj_database_url.parse(_url)
    _tuning = {k: v for k, v in _db["OPTIONS"].items() if k not in _url_options}
    DATABASES[_alias] = {
        **_db,
        **{key: _parsed[key] for key in ("NAME", "USER", "PASSWORD", "HOST", "PORT")},
        "OPTIONS": {
            **_parsed.get("OPTIONS", {}),
            **_tuning,
            # A replica that cannot hand out a connection quickly is skipped, not waited for.
            "pool": {**_db["OPTIONS"]["pool"], "timeout": 0.5},
        },
        # The test databases live on the primary; a standby follows them by itself.
        "TEST": {"MIRROR": "default"},
    }
    DATABASE_REPLICAS.append(_alias)
# How often each process reads every replica's replay position (one daemon thread), how far
# behind the primary a replica may be and still serve, and how long a client's last write
# pins its reads to replicas that have replayed it.
REPLICA_REFRESH_SECONDS = float(os.environ.get("REPLICA_REFRESH_SECONDS", "0.1"))
REPLICA_MAX_LAG_BYTES = int(os.environ.get("REPLICA_MAX_LAG_BYTES", str(16 * 1024 * 1024)))
REPLICA_PIN_SECONDS = int(os.environ.get("REPLICA_PIN_SECONDS", "300"))
DATABASE_ROUTERS = ["app.core.replicas.ReplicaRouter"] if DATABASE_REPLICAS else []
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Every Redis key the app writes starts with this, so a reseed or a test can clear exactly its
# own keys and nothing else on a shared server.
REDIS_KEY_PREFIX = os.environ.get("REDIS_KEY_PREFIX", "il")

CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_CACHE_URL,
        "KEY_PREFIX": REDIS_KEY_PREFIX,
        "OPTIONS": {
            "CLIENT_CLASS": "app.lab.cache.CountingClient",
            # A script a read-only replica refuses is an outage, not a bug (app/core/degrade.py).
            "PARSER_CLASS": "app.core.degrade.OutageAwareParser",
            "SOCKET_CONNECT_TIMEOUT": 2,
            "SOCKET_TIMEOUT": 2,
        },
    },
    # Sessions as JSON: authentication reads the user id inside the session from a script,
    # with the user's cached row, in one round trip (app/accounts/usercache.py).
    "sessions": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_CACHE_URL,
        "KEY_PREFIX": REDIS_KEY_PREFIX,
        "OPTIONS": {
            "CLIENT_CLASS": "app.lab.cache.CountingClient",
            # A script a read-only replica refuses is an outage, not a bug (app/core/degrade.py).
            "PARSER_CLASS": "app.core.degrade.OutageAwareParser",
            "SERIALIZER": "django_redis.serializers.json.JSONSerializer",
            "SOCKET_CONNECT_TIMEOUT": 2,
            "SOCKET_TIMEOUT": 2,
        },
    },
}

# The limits role's own alias only when it has a server of its own: on the cache's server it
# is the "default" alias, so the two share connections and pipelines (app/core/redisroles.py).
if REDIS_LIMITS_URL != REDIS_CACHE_URL:
    CACHES["limits"] = {**CACHES["default"], "LOCATION": REDIS_LIMITS_URL}

SESSION_ENGINE = "app.accounts.sessions"
SESSION_CACHE_ALIAS = "sessions"
SESSION_COOKIE_AGE = 60 * 60 * 24 * 30
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# --- Production security (docs/reliability.md, "Production mode") -----------------------
# A deployment behind TLS turns these on; `make run` serves plain HTTP on loopback, so the
# defaults leave them off (`manage.py check --deploy` names each one that is missing).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# Probes and scrapes come from inside, over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Only behind a proxy that sets (and overwrites) these headers; trusted otherwise, a client
# could claim HTTPS or any host.
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_X_FORWARDED_HOST = env_bool("USE_X_FORWARDED_HOST", False)
# /metrics: with a token, only `Authorization: Bearer <token>`; without, loopback clients only.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
# The pages load one module script and one stylesheet from /static/ and inline no script, so
# no nonce is needed. Inline style *attributes* are allowed (app.js sets one on a spacer), not
# <style> elements. The WebSocket origin, which may be another port, is added per request
# (app/lab/middleware.py). JSON responses carry no policy: they run nothing.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        # blob: the upload form previews the chosen files.
        "img-src": ["'self'", "blob:", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Plain PUBLISH/SUBSCRIBE: measured against RedisChannelLayer in docs/experiments/chat.md
# (group round trip p50 1.6 ms vs 11.1 ms; at 100 msg/s the core layer silently dropped 2,826
# of 4,000 deliveries on ChannelFull, pub/sub none). It also has no blocking BZPOPMIN, whose
# lost cancellations left consumers of closed sockets parked in Redis.
CHANNEL_LAYERS = {
    "default": {
        # channels_redis's RedisPubSubChannelLayer, telling sockets when its Redis
        # connection came back, so they resend what an outage kept from them (app/chat/layer.py).
        "BACKEND": "app.chat.layer.ResyncingPubSubChannelLayer",
        "CONFIG": {
            # Several hosts shard the groups (app/core/realtime.py publishes to the same one).
            "hosts": [{"address": url} for url in REDIS_CHANNELS_URLS],
            "prefix": f"{REDIS_KEY_PREFIX}:asgi",
        },
    }
}

# One recommended post per this many home-feed items (app/recs); 0 turns it off. Off under
# tests by default, so feed tests see only followed posts; recs tests turn it on.
FEED_RECOMMENDED_EVERY = int(os.environ.get("FEED_RECOMMENDED_EVERY", "0" if TESTING else "5"))
# Authors with more followers than this are pulled into their followers' feeds at read time
# instead of pushed at write time. A page reads one list per pulled author it follows, so the
# threshold must grow with the audience: at `medium` a reader who follows 325 accounts
# follows 132 above 1,000 (docs/experiments/hotpaths.md).
FEED_FANOUT_THRESHOLD = int(os.environ.get("FEED_FANOUT_THRESHOLD", "1000"))
# Home-feed timelines in Redis (app/feed/store.py): post ids kept per timeline (this bounds
# Redis memory per active user), seconds an idle user's timeline lives (refreshed on read),
# and seconds a cached post body lives.
FEED_TIMELINE_CAP = int(os.environ.get("FEED_TIMELINE_CAP", "800"))
FEED_TIMELINE_TTL = int(os.environ.get("FEED_TIMELINE_TTL", str(3 * 24 * 3600)))
FEED_FRAGMENT_TTL = int(os.environ.get("FEED_FRAGMENT_TTL", str(24 * 3600)))

# Chat limits (app/chat/limits.py, services.py; docs/experiments/chat.md): messages per
# second per user with a burst, frames per second per socket with a burst, `sync` frames per
# minute with a burst, and open sockets per user.
CHAT_RATE_PER_SECOND = float(os.environ.get("CHAT_RATE_PER_SECOND", "5"))
CHAT_RATE_BURST = int(os.environ.get("CHAT_RATE_BURST", "20"))
CHAT_FRAME_RATE = float(os.environ.get("CHAT_FRAME_RATE", "20"))
CHAT_FRAME_BURST = int(os.environ.get("CHAT_FRAME_BURST", "60"))
CHAT_SYNC_PER_MINUTE = float(os.environ.get("CHAT_SYNC_PER_MINUTE", "30"))
CHAT_SYNC_BURST = int(os.environ.get("CHAT_SYNC_BURST", "10"))
CHAT_SOCKETS_PER_USER = int(os.environ.get("CHAT_SOCKETS_PER_USER", "8"))
# Presence (app/chat/presence.py): a socket is online this many seconds after its last
# heartbeat; it writes presence at most once per CHAT_PRESENCE_REFRESH (None: a third of the
# TTL, so a throttled socket is still refreshed twice before it would expire).
CHAT_PRESENCE_TTL = float(os.environ.get("CHAT_PRESENCE_TTL", "60"))
CHAT_PRESENCE_REFRESH: float | None = (
    float(os.environ["CHAT_PRESENCE_REFRESH"]) if os.environ.get("CHAT_PRESENCE_REFRESH") else None
)
# Where the browser opens /ws/ when it is not the page's own origin: the server runner
# (ops/serve.py) sets it, since it serves /ws/ on another port than HTTP.
LAB_WS_URL = os.environ.get("LAB_WS_URL", "").strip()
# When RQ's cron scheduler retrains the recommender (`rq cron app.recs.cron`): nightly.
RECS_RETRAIN_CRON = os.environ.get("RECS_RETRAIN_CRON", "17 3 * * *")
# Trending lists a search only once this many distinct users made it (k-anonymity): one
# user's single search is never published (docs/reliability.md, privacy rules).
SEARCH_TRENDING_MIN_USERS = max(1, int(os.environ.get("SEARCH_TRENDING_MIN_USERS", "3")))

# Background work (fan-out, training). Tests run jobs eagerly in-process.
RQ_QUEUES = {
    name: {"URL": REDIS_QUEUES_URL, "DEFAULT_TIMEOUT": 3600, "ASYNC": not TESTING}
    for name in ("default", "fanout", "training")
}

# --- Files ------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Media on the local disk (MEDIA_ROOT), or with MEDIA_STORAGE=s3 in an S3-compatible bucket
# (MinIO, AWS...) that every app node shares: AWS_STORAGE_BUCKET_NAME, AWS_S3_ENDPOINT_URL,
# AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_S3_REGION_NAME. URLs stay /media/..., checked
# per viewer and streamed from the bucket (app/core/storage.py, docs/scaling.md). It needs
# django-storages and boto3: requirements-s3.lock, which `make` installs when it is set.
MEDIA_STORAGE = os.environ.get("MEDIA_STORAGE", "local").strip() or "local"
if MEDIA_STORAGE == "s3":
    STORAGES["default"] = {
        "BACKEND": "app.core.storage.MediaS3Storage",
        "OPTIONS": {
            "bucket_name": os.environ.get("AWS_STORAGE_BUCKET_NAME", "instalab-media"),
            "endpoint_url": os.environ.get("AWS_S3_ENDPOINT_URL") or None,
            "access_key": os.environ.get("AWS_ACCESS_KEY_ID") or None,
            "secret_key": os.environ.get("AWS_SECRET_ACCESS_KEY") or None,
            "region_name": os.environ.get("AWS_S3_REGION_NAME") or None,
            # MinIO and other self-hosted servers address buckets by path, not by host name.
            "addressing_style": "path",
            # Names are unique (uuid4) already; never overwrite, never make objects public.
            "file_overwrite": False,
            "default_acl": None,
        },
    }
elif MEDIA_STORAGE != "local":
    raise RuntimeError(f"MEDIA_STORAGE={MEDIA_STORAGE!r} is unknown: local or s3")
# Uploads: the API enforces its own per-file caps; these bound the raw request.
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
MAX_UPLOAD_BYTES = 12 * 1024 * 1024

# --- Abuse limits (docs/reliability.md, "Abuse limits") ---------------------------------
# Any request body: over this by Content-Length is a 413 before a byte is read, and a body
# streamed without one is cut off here too (app/core/bodylimit.py).
MAX_REQUEST_BYTES = int(os.environ.get("MAX_REQUEST_BYTES", str(32 * 1024 * 1024)))
# Decoding and rendering cost about 65 ms of CPU per megapixel (a 40 MP image in a 38 KB file
# took 2.7 s) and a few bytes of memory per pixel, however small the file. Each image's size
# is read from its header, and every image of a request is checked, before any is decoded.
# Per image 4096 x 4096 (a 12 MP phone photo fits), and per request 40 MP: about 2.4 s of
# CPU at most, where ten 40 MP images used to be allowed (27 s).
MAX_UPLOAD_PIXELS = int(os.environ.get("MAX_UPLOAD_PIXELS", str(4096 * 4096)))
UPLOAD_PIXEL_BUDGET = int(os.environ.get("UPLOAD_PIXEL_BUDGET", "40000000"))
# CPU seconds a request may spend on its images; checked before each image is decoded.
UPLOAD_CPU_SECONDS = float(os.environ.get("UPLOAD_CPU_SECONDS", "3.0"))
# Image decodes at once per process, and how long a request waits for a turn before a 503.
IMAGE_PROCESSING_SLOTS = int(os.environ.get("IMAGE_PROCESSING_SLOTS", "1"))
IMAGE_SLOT_WAIT = float(os.environ.get("IMAGE_SLOT_WAIT", "1.0"))
# Fixed windows per identity, "count/window" with s, m, h or d; each overridable from the
# environment as RATE_LIMIT_<NAME> (RATE_LIMIT_LOGIN_ACCOUNT=20/15m). Login counts attempts
# and gives back the ones that succeed, so these bound wrong passwords (app/core/ratelimit.py).
RATE_LIMITS = {
    name: os.environ.get("RATE_LIMIT_" + name.upper().replace(".", "_"), default)
    for name, default in {
        "login.account": "10/15m",
        "login.address": "30/5m",
        "signup.account": "5/h",
        "signup.address": "20/h",
    }.items()
}
# Password hashes (about a second of CPU each) at once per process, how many more may wait
# for a turn, and for how long; past that, 503 busy with Retry-After (app/core/ratelimit.py).
PASSWORD_HASH_SLOTS = int(os.environ.get("PASSWORD_HASH_SLOTS", "1"))
PASSWORD_HASH_QUEUE = int(os.environ.get("PASSWORD_HASH_QUEUE", "1"))
PASSWORD_HASH_WAIT = float(os.environ.get("PASSWORD_HASH_WAIT", "10"))
# Proxies in front that append to X-Forwarded-For; the client is the address the outermost
# of ours saw. 0 (no proxy): REMOTE_ADDR, and X-Forwarded-For is ignored (anyone can send it).
TRUSTED_PROXY_HOPS = int(os.environ.get("TRUSTED_PROXY_HOPS", "0"))

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Django's PBKDF2 (same algorithm name, so it also verifies every existing pbkdf2_sha256
# hash), run at low CPU priority (app/accounts/hashers.py); then the rest of Django's default
# list, so a hash made with any of them still verifies.
PASSWORD_HASHERS = [
    "app.accounts.hashers.LowPriorityPBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
if TESTING:
    # Hashing is deliberately slow; tests create hundreds of users.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
    # Django logs every 4xx; a flood of refused logins would write a line per attempt. The
    # refusals are counted in /metrics (status 429, 413) instead.
    "filters": {"not_refused": {"()": "app.core.ratelimit.NotRefused"}},
    "loggers": {"django.request": {"filters": ["not_refused"]}},
}

# --- Profiling: django-silk, sampled, staff only, never in headline runs ---------------
if SILK:
    INSTALLED_APPS.append("silk")
    # Outermost: silk's own row writes then stay out of Server-Timing and /metrics.
    MIDDLEWARE.insert(0, "silk.middleware.SilkyMiddleware")
    SILKY_PYTHON_PROFILER = True
    # Each profile shows what silk itself cost, since it distorts what it measures.
    SILKY_META = True
    # Probes and scrapes would crowd real requests out of the sample.
    SILKY_IGNORE_PATHS = ["/healthz", "/readyz", "/metrics"]
    SILKY_AUTHENTICATION = True
    SILKY_AUTHORISATION = True
    SILKY_PERMISSIONS = lambda user: user.is_staff  # noqa: E731
    SILKY_INTERCEPT_PERCENT = int(os.environ.get("SILK_PERCENT", "10"))
    # Silk's inline garbage collection has deadlocked on PostgreSQL; run
    # `manage.py silk_request_garbage_collect` out of band instead.
    SILKY_MAX_RECORDED_REQUESTS = 10_000
    SILKY_MAX_RECORDED_REQUESTS_CHECK_PERCENT = 0
