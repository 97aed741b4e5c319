"""Django settings: every value comes from `gameserver.conf` (the environment)."""

from __future__ import annotations

import dj_database_url

from gameserver import conf

CONFIG = conf.load()

BASE_DIR = conf.BASE_DIR
conf.VAR_DIR.mkdir(exist_ok=True)

SECRET_KEY = conf.secret_key(CONFIG)
DEBUG = CONFIG.debug
ALLOWED_HOSTS = CONFIG.allowed_host_list

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Before `channels`: its `runworker` command adds the task sweeper to Channels' own.
    "gameserver",
    "channels",
    "lobby",
    "client",
]

MIDDLEWARE = [
    "lobby.http.ForwardedProtoMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # The chain and the view run as one sync call per request, under daphne
    # too (gameserver/httphandler.py): every middleware here is sync.
    "lobby.http.BearerTokenMiddleware",
]

ROOT_URLCONF = "gameserver.urls"
ASGI_APPLICATION = "gameserver.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

DATABASES = {"default": dj_database_url.parse(CONFIG.database_url, conn_max_age=0)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and \
        CONFIG.database_prepared_statements:
    # The server binds the parameters, and a statement run often on a connection
    # (every one a guest session makes, on the kept connections of lobby/dbconn.py)
    # is parsed and planned once there: less CPU in PostgreSQL and in psycopg
    # (docs/operations.md, DATABASE_PREPARED_STATEMENTS).
    # Options the URL gives itself (`?prepare_threshold=...`) win.
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options.setdefault("server_side_binding", True)
    _options.setdefault("prepare_threshold", conf.PREPARE_THRESHOLD)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several threads (and, in a local cluster, processes) write: wait for the
    # lock instead of failing at once, and let readers run beside a writer.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }

AUTH_USER_MODEL = "lobby.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = conf.VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
# The browser's msgpack codec: npm's ESM build served straight from client/node_modules
# (installed by `make setup`), at /static/client/vendor/msgpack/ (see the client's import map).
STATICFILES_DIRS = [
    ("client/vendor/msgpack",
     BASE_DIR / "client" / "node_modules" / "@msgpack" / "msgpack" / "dist.esm"),
]
# Files (match recordings, lobby/replays.py) go through Django's storage API: the
# filesystem under MEDIA_ROOT by default; set STORAGES["default"] for another backend.
# They are never served from MEDIA_URL: the replay API reads them (access rules).
MEDIA_ROOT = CONFIG.media_root
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Requests carry small JSON bodies only.
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 100

SESSION_ENGINE = "lobby.sessionstore"  # Django's database sessions, a new one written once
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_FAILURE_VIEW = "lobby.http.csrf_failure"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
# What the browser used (http or https), as a trusted proxy that terminates TLS
# says; lobby.http.ForwardedProtoMiddleware drops the header from anyone else.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

if CONFIG.redis_url:
    from gameserver.redis_layer import layer_settings

    CHANNEL_LAYERS = {"default": layer_settings(CONFIG.redis_urls)}
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "gameserver.layers.LocalChannelLayer",
            # A process's hub channels carry every room's or the whole lobby's
            # traffic: they get deep queues; per-socket channels stay small.
            "CONFIG": {"capacity": 256, "channel_capacity": {"*hub.*": 65536}},
        }
    }

# Structured logs (gameserver/logs.py): every record gets room/user/tick keys
# and has secrets redacted; daphne's access log is routed through `logging`.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "gameserver.logs.ContextFilter"},
        "redact": {"()": "gameserver.logs.RedactFilter"},
    },
    "formatters": {
        "text": {
            "()": "gameserver.logs.TextFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(room)s %(user)s %(tick)s",
            "rename_fields": {"asctime": "ts", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": CONFIG.log_format,
            "filters": ["context", "redact"],
        }
    },
    "root": {"handlers": ["console"], "level": CONFIG.log_level},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        # Emitted only when daphne's own access log is on (its default verbosity).
        "daphne.access": {"level": "INFO"},
    },
}

# Rate limits (lobby/ratelimit.py) count in the cache: per process in memory,
# shared by every process through Redis when REDIS_URL is set.
if CONFIG.redis_url:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CONFIG.redis_urls[0],
            "KEY_PREFIX": "arena",
            # One pool per process, not a connection per request (gameserver/cachepool.py).
            "OPTIONS": {"pool_class": "gameserver.cachepool.SharedConnectionPool"},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

ARENA = CONFIG

# The games this server offers, like INSTALLED_APPS (the first is the default).
# Loaded and checked here, so a game that does not import or whose config is
# invalid stops start-up with a message naming GAMES (lobby/games.py).
GAMES = CONFIG.game_paths
try:
    from lobby import games as _games

    _games.check(GAMES, CONFIG)
except _games.GameSetupError as _exc:
    raise conf.ConfigError(f"bad environment: {_exc}") from None
