"""Every setting of Harvest. Deploy-specific values come from the environment (see .env.example).

With no environment beyond DJANGO_SECRET_KEY this gives the embedded set-up: SQLite and the
Celery filesystem broker, both under var/, so that web, worker and scheduler share one machine.
"""

from pathlib import Path

import environ
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY")  # no default: a missing key stops the boot
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_results",
    "import_export",
    "installations",
    "api",
    "audit",
    "worker",
    "coverage",
    "legacy",
    "web",
]

MIDDLEWARE = [
    "audit.middleware.RequestIdMiddleware",  # first, so every answer carries X-Request-ID
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "harvest.urls"
WSGI_APPLICATION = "harvest.wsgi.application"
ASGI_APPLICATION = "harvest.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# SQLite by default (var/harvest.sqlite3); PostgreSQL in production through DATABASE_URL.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'harvest.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers and one writer work at once; IMMEDIATE takes the write lock at BEGIN, so a
    # transaction never fails half-way on an upgrade from read to write; the timeout waits for it.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": env.int("SQLITE_BUSY_TIMEOUT_S", default=20),
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Server-side parameters let psycopg prepare a statement it has run 5 times on a connection, so
    # PostgreSQL stops re-planning hot queries (planning the coordinator's list took 2.3 ms, running it 0.4).
    # (Turn both off behind a PgBouncer in transaction mode, which cannot keep prepared statements.)
    if env.bool("DATABASE_PREPARED_STATEMENTS", default=True):
        DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
FIXTURE_DIRS = [BASE_DIR / "fixtures"]
REFERENCE_FIXTURES = ["alcaldias", "program_years", "harvest_parameters"]

AUTH_USER_MODEL = "installations.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:after_login"

# --- Language and time ----------------------------------------------------------------------
LANGUAGE_CODE = "es-mx"
LANGUAGES = [("es-mx", _("Español (México)")), ("en", _("Inglés"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "America/Mexico_City"
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# The pages' JS/CSS come from npm (package-lock.json; `npm ci` puts them in node_modules/) and are served
# by the app under static/vendor/: no page loads anything from another host.
NODE_MODULES = BASE_DIR / "node_modules"
STATICFILES_DIRS = [
    ("vendor/htmx", NODE_MODULES / "htmx.org" / "dist"),
    ("vendor/leaflet", NODE_MODULES / "leaflet" / "dist"),
    ("vendor/leaflet.markercluster", NODE_MODULES / "leaflet.markercluster" / "dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env("DJANGO_STATICFILES_STORAGE", default="whitenoise.storage.CompressedManifestStaticFilesStorage")
    },
}
WHITENOISE_USE_FINDERS = DEBUG
# Uploaded files (field photos): private storage shared by the web machines. Never served from MEDIA_URL:
# a photo is sent only by a login-protected view that checks who may see its record.
MEDIA_ROOT = Path(env("DJANGO_MEDIA_ROOT", default="") or VAR_DIR / "media")
MEDIA_URL = "media/"

# --- Security (production values unless the environment says otherwise) --------------------
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("DJANGO_BEHIND_PROXY", default=False) else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# --- Program rules --------------------------------------------------------------------------
# Key for the HMAC that stores verification codes; falls back to SECRET_KEY.
HARVEST_CODE_HASH_KEY = env("HARVEST_CODE_HASH_KEY", default=SECRET_KEY)
# Password of the demo users that seed_demo creates (demo data only, never production).
DEMO_PASSWORD = env("DEMO_PASSWORD", default="cosecha-demo")

# --- Celery ---------------------------------------------------------------------------------
CELERY_QUEUE_DIR = Path(env("CELERY_QUEUE_DIR", default="") or VAR_DIR / "celery-queue")
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for folder in ("in", "processed", "control"):
        (CELERY_QUEUE_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_QUEUE_DIR / "in"),
        "data_folder_out": str(CELERY_QUEUE_DIR / "in"),
        "processed_folder": str(CELERY_QUEUE_DIR / "processed"),
        "control_folder": str(CELERY_QUEUE_DIR / "control"),
        "store_processed": False,
    }
else:
    # Longer than any task's time_limit, so Redis never re-delivers a task that is still running.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT_S", default=7_200),
        # A web request that publishes while Redis is away waits this long at most (the outbox keeps the task).
        "socket_connect_timeout": 2,
        "socket_timeout": 10,
    }
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default="django-db")
CELERY_RESULT_EXTENDED = True
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_SOFT_TIME_LIMIT = 300
CELERY_TASK_TIME_LIMIT = 360
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# Queues, routes and the beat schedule are declared in worker/ and read here.
from worker.queues import CELERY_TASK_ROUTES, Queue  # noqa: E402, F401 -- read by Celery from settings
from worker.schedule import CELERY_BEAT_SCHEDULE  # noqa: E402, F401

CELERY_TASK_DEFAULT_QUEUE = Queue.DEFAULT.value
# A job with no progress for this long was lost with its worker and is queued again.
HARVEST_JOB_STALE_SECONDS = env.int("HARVEST_JOB_STALE_SECONDS", default=5 * 60)
# Chaos testing only: each coverage part waits this long before computing (0 in production).
HARVEST_COVERAGE_PART_PAUSE_S = env.float("HARVEST_COVERAGE_PART_PAUSE_S", default=0.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Cache and counters -------------------------------------------------------------------------------
# Default: per-process memory. Production: CACHE_URL=redis://… (shared by every web process).
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://harvest")}
# Throttle counters need one count across web processes: Redis when the cache is Redis, else the database.
HARVEST_COUNTERS = "cache" if CACHES["default"]["BACKEND"].endswith("RedisCache") else "database"

# --- REST API ---------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.DeviceTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.KeysetPagination",
    "DEFAULT_FILTER_BACKENDS": ["api.filters.StrictFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.exceptions.exception_handler",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Harvest API · Cosecha de Lluvia",
    "DESCRIPTION": "API of Mexico City's rainwater-harvesting program tracker (households, technicians, coordinators).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.add_common_error_responses",
    ],
}
# Phone tokens last this many days unless revoked first.
HARVEST_TOKEN_TTL_DAYS = env.int("HARVEST_TOKEN_TTL_DAYS", default=30)
# Idempotency records are kept at least this long (phones may stay offline for weeks).
HARVEST_IDEMPOTENCY_DAYS = 30
# Public status lookup: failures per client and per folio before 429 (reliability.md A4, A5).
HARVEST_LOOKUP_FAILURES_PER_CLIENT = 5
HARVEST_LOOKUP_CLIENT_WINDOW_S = 10 * 60
HARVEST_LOOKUP_FAILURES_PER_FOLIO = 10
HARVEST_LOOKUP_FOLIO_WINDOW_S = 24 * 3600
HARVEST_LOOKUP_FOLIO_LOCK_S = 15 * 60
# Public self-registration: attempts per client address and window.
HARVEST_REGISTRATIONS_PER_CLIENT = 20
HARVEST_REGISTRATION_WINDOW_S = 3600
# Login: failures per user name or client before 429.
HARVEST_LOGIN_FAILURES = 5
HARVEST_LOGIN_WINDOW_S = 15 * 60
# Proxies in front of the app that append to X-Forwarded-For (0: use REMOTE_ADDR only).
HARVEST_NUM_PROXIES = env.int("HARVEST_NUM_PROXIES", default=0)

# --- Legacy spreadsheets (reliability.md C, D) ---------------------------------------------------------
# django-import-export: CSV and XLSX only (no YAML, JSON, XLS, HTML, ODS: C2, D5); every import in
# one transaction (C5); admin import and export need a permission (C7) besides the role checks of
# legacy/resources.py (the masked export: "view"; the import screen, if ever enabled: "add").
from import_export.formats.base_formats import CSV as _CSV  # noqa: E402 -- settings read by import_export
from import_export.formats.base_formats import XLSX as _XLSX  # noqa: E402

IMPORT_EXPORT_FORMATS = [_CSV, _XLSX]
IMPORT_FORMATS = [_CSV, _XLSX]
EXPORT_FORMATS = [_CSV, _XLSX]
IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "add"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = False  # our own escaping covers every formula start (D1)
# Exports over this many rows are built by a worker (reliability.md D4) into HARVEST_EXPORTS_DIR, a private
# folder never served as static or media and shared by the web machines and the workers on "imports".
HARVEST_EXPORT_SYNC_MAX_ROWS = env.int("HARVEST_EXPORT_SYNC_MAX_ROWS", default=10_000)
HARVEST_EXPORTS_DIR = Path(env("HARVEST_EXPORTS_DIR", default="") or VAR_DIR / "exports")
