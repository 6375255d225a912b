"""ExoTrack settings.

Everything that differs between a laptop demo and production comes from the
environment. With nothing set, ExoTrack runs embedded: SQLite in the repository
and Celery tasks executed in-process, so `make demo` needs no services.
Production sets DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL (Redis).
"""

import datetime as dt
import json
import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)
# The default key is only good for the embedded demo; production must set its own.
SECRET_KEY = os.environ.get("SECRET_KEY", "exotrack-insecure-demo-key-change-me")
if not DEBUG and SECRET_KEY.startswith("exotrack-insecure"):
    raise RuntimeError("SECRET_KEY must be set when DEBUG is off")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

# HTTPS. Off by default (the demo is plain http on 127.0.0.1); docker/ turns each on.
# Behind a TLS-terminating proxy, SECURE_PROXY_SSL_HEADER names the header it sets,
# e.g. "HTTP_X_FORWARDED_PROTO,https": only then can Django tell an https request.
_proxy_ssl_header = env_list("SECURE_PROXY_SSL_HEADER", "")
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) if len(_proxy_ssl_header) == 2 else None
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
# biobank/csp.py; every page's scripts are our static files, none inline.
CONTENT_SECURITY_POLICY = os.environ.get(
    "CONTENT_SECURITY_POLICY",
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
)
CONTENT_SECURITY_POLICY_REPORT_ONLY = env_bool("CONTENT_SECURITY_POLICY_REPORT_ONLY", False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "axes",
    "simple_history",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc as static files (no CDN)
    "django_celery_beat",
    "biobank",
    "biobank.infra",
    "analysis",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "biobank.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Before any view reads the body (the CSRF check does): see biobank/uploads.py.
    "biobank.uploads.UploadSizeLimitMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: turns a locked-out sign-in into biobank.lockout's answer.
    "axes.middleware.AxesMiddleware",
]

# Sign-in lockout (django-axes, biobank/lockout.py): the first backend refuses a user
# name + address pair with too many recent failures before the password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = dt.timedelta(minutes=float(os.environ.get("LOGIN_COOLOFF_MINUTES", "15")))
# The pair, not the address alone (colleagues behind one hospital NAT) nor the user name
# alone (anyone could lock a colleague out from anywhere).
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "biobank.lockout.client_ip"
AXES_LOCKOUT_CALLABLE = "biobank.lockout.lockout_response"

ROOT_URLCONF = "biobank.urls"
WSGI_APPLICATION = "biobank.wsgi.application"

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

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        # 0: a connection per request. Kept connections (compose: 60 s) are checked
        # before a request reuses them, so that one the database or a proxy dropped
        # meanwhile is replaced instead of failing the request.
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "0")),
        conn_health_checks=env_bool("CONN_HEALTH_CHECKS", True),
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The dev server's requests and the background re-analysis write the same file:
    # WAL lets readers and one writer go on together; a writer waits for the other
    # (busy timeout, seconds) instead of failing with "database is locked"; and
    # IMMEDIATE takes the write lock when a transaction begins, so that a transaction
    # that read first never fails when it then writes (SQLite cannot wait there).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )


def cache_config(url: str) -> dict:
    """The shared cache. The API's throttle counters live there, so it is one store for
    every gunicorn worker, never the per-process LocMemCache (with it each worker
    counted its own 10 token guesses a minute). Redis when CACHE_URL names one, with
    short socket timeouts so that a hung Redis costs a request seconds, not minutes;
    otherwise a table of the database (made by `migrate`, biobank/infra)."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        timeout = float(os.environ.get("CACHE_SOCKET_TIMEOUT", "2"))
        return {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": timeout, "socket_timeout": timeout},
        }
    if url:
        raise RuntimeError(f"CACHE_URL must be a redis:// URL or empty, not {url!r}")
    return {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "exotrack_cache",
        # Culling drops a third of the entries when full: throttle counts among them.
        "OPTIONS": {"MAX_ENTRIES": 50_000},
    }


CACHES = {"default": cache_config(os.environ.get("CACHE_URL", ""))}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Django's full set, checked wherever a password is chosen (admin, createsuperuser,
# password change); the demo loader's set_password does not go through them.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": int(os.environ.get("PASSWORD_MIN_LENGTH", "10"))},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
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

# Uploads: a body larger than EXOTRACK_MAX_UPLOAD_MB (plus room for the form fields) is
# refused before it is read (biobank.uploads). Below that, Django keeps an upload up to
# FILE_UPLOAD_MAX_MEMORY_SIZE in memory and spools a larger one to a temporary file;
# DATA_UPLOAD_MAX_MEMORY_SIZE caps everything but files (form fields, JSON bodies).
EXOTRACK_MAX_UPLOAD_BYTES = int(float(os.environ.get("EXOTRACK_MAX_UPLOAD_MB", "20")) * 1024**2)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440  # 2.5 MB, Django's default, stated
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# Celery: with no broker the tasks run in-process (eagerly), the embedded default.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", CELERY_BROKER_URL or None)
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# One queue name per deployment sharing a Redis (the integration tests use their own).
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "celery")
# Redis outages (issue 17). Every Redis client (broker, result backend, the plan lock and
# debounce state) gives up after this many seconds on a connect or a reply: a hung Redis
# (SIGSTOPped, a dead network path) costs an edit at most about this long, then the
# durable record (analysis.pending) carries the change until Redis answers again.
REDIS_TIMEOUT_SECONDS = float(os.environ.get("EXOTRACK_REDIS_TIMEOUT_SECONDS", "2"))
# The worker reconnects by itself, for ever (Celery's default gives up after 100 tries).
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_CONNECTION_TIMEOUT = REDIS_TIMEOUT_SECONDS
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # kombu's Redis transport with the guard that keeps a worker alive when Redis drops
    # while it holds unacknowledged messages (see biobank/broker.py).
    CELERY_BROKER_TRANSPORT = "biobank.broker:Transport"
# A publish to a hung Redis: one retry, not Celery's three (each waits a socket timeout).
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
# A running task is left to finish when the broker connection drops (its ack is lost, so
# the message comes back once: the task then finds its run done and does nothing).
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# A task whose worker was killed (acks late) goes back to the queue once it has been
# unacknowledged this long, so a replacement run starts within about a minute of a
# whole-worker SIGKILL (with the plan lock's lifetime, REANALYSIS_LOCK_SECONDS). It
# must outlast the longest countdown a task waits for (the quiet time, the retry
# back-off of at most 9 s), or a waiting countdown task would be delivered twice (the
# tasks recognise a duplicate, but it costs a wake-up); the default keeps that margin.
_quiet_seconds = float(os.environ.get("EXOTRACK_REANALYSIS_QUIET_SECONDS", "5"))
_visibility_timeout = int(
    os.environ.get("CELERY_VISIBILITY_TIMEOUT") or max(30, int(_quiet_seconds) + 15)
)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": _visibility_timeout,
    "unacked_restore_interval": max(1, min(5, _visibility_timeout // 4)),
    "unacked_restore_throttle": 1,
    "socket_timeout": REDIS_TIMEOUT_SECONDS,
    "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
    "socket_keepalive": True,
    # Ping the worker's long-lived connections: a hung Redis is noticed and reconnected.
    "health_check_interval": 10,
}
# The result backend (when it is Redis): the same bounded waits.
CELERY_REDIS_SOCKET_TIMEOUT = REDIS_TIMEOUT_SECONDS
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = REDIS_TIMEOUT_SECONDS
CELERY_REDIS_BACKEND_HEALTH_CHECK_INTERVAL = 10

# Domain settings: the defaults follow the study protocol (see DESIGN.md).
EXOTRACK = {
    "POST_DRAW_WINDOW_DAYS": (5, 10),
    # Dates and times ahead of now by at most this much are accepted (a bench clock or a
    # client a little fast); later ones are refused (biobank/services/dates.py).
    "CLOCK_SKEW_MINUTES": float(os.environ.get("EXOTRACK_CLOCK_SKEW_MINUTES", "5")),
    "CQ_CUTOFF": float(os.environ.get("EXOTRACK_CQ_CUTOFF", "35")),
    "REPLICATE_MAX_DISTANCE": float(os.environ.get("EXOTRACK_REPLICATE_MAX_DISTANCE", "0.5")),
    # Re-analysis on data changes (analysis/triggers.py, analysis/tasks.py).
    "REANALYSIS_ENABLED": env_bool("EXOTRACK_REANALYSIS_ENABLED", True),
    # No broker: compute the runs in a background thread of this process, so that a
    # save never waits for one (off: in the saving thread, before the response).
    "REANALYSIS_IN_BACKGROUND": env_bool("EXOTRACK_REANALYSIS_IN_BACKGROUND", True),
    # A burst of edits makes one run, this long after the last edit (broker mode only:
    # with no broker a plan has at most one run waiting, which later edits join).
    "REANALYSIS_QUIET_SECONDS": _quiet_seconds,
    # Redis for the per-plan lock and debounce state; empty: the broker's.
    "REANALYSIS_REDIS_URL": os.environ.get("EXOTRACK_REANALYSIS_REDIS_URL", ""),
    # The lock expires this long after its holder stops renewing it (a killed worker);
    # renewed every third of it while a run lasts.
    "REANALYSIS_LOCK_SECONDS": float(os.environ.get("EXOTRACK_REANALYSIS_LOCK_SECONDS", "20")),
    # Runs still queued or running after this long with no live holder are failed.
    "REANALYSIS_STALE_SECONDS": float(os.environ.get("EXOTRACK_REANALYSIS_STALE_SECONDS", "3600")),
    # QC thresholds that override analysis.flags.QcThresholds' defaults (docs/qc.md), as a
    # JSON object, e.g. EXOTRACK_QC='{"ntc_min_gap": 5, "freeze_thaw_limit": 2}'.
    "QC": json.loads(os.environ.get("EXOTRACK_QC", "{}")),
}

# Which tube operations need a reason in the custody log (the lab's policy; the bulk and
# single-tube services refuse a missing one with field "reason"). Each can be overridden
# by EXOTRACK_REASON_REQUIRED_<ACTION>, e.g. EXOTRACK_REASON_REQUIRED_CHECK_IN=1.
EXOTRACK_REASON_REQUIRED = {
    action: env_bool(f"EXOTRACK_REASON_REQUIRED_{action.upper()}", default)
    for action, default in {
        "check_out": True,
        "check_in": False,
        "move": True,
        "discard": True,
    }.items()
}

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "biobank.api.schema.AutoSchema",
    # Token first: an anonymous client gets 401 with WWW-Authenticate; the browser's
    # session works too, with CSRF enforced on its writes. The token query also reads
    # the user's roles (biobank.api.authentication).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "biobank.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["biobank.api.permissions.RolePermission"],
    "DEFAULT_FILTER_BACKENDS": [
        "biobank.api.filters.FilterBackend",  # django-filter's, no form when unused
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "biobank.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "biobank.api.exceptions.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"token": os.environ.get("API_TOKEN_RATE", "10/minute")},
    # Throttling keys on the client's address: trust X-Forwarded-For only from this many
    # proxies in front (0: the socket's address), or a client could name itself anew on
    # every request and escape the limit.
    "NUM_PROXIES": int(os.environ.get("API_NUM_PROXIES", "0")),
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "ExoTrack API",
    "DESCRIPTION": (
        "Biobank sample tracker for a serum exosomal-miRNA qPCR study: the sample chain, "
        "plates and wells, analysis plans and runs, and the analysis-ready cohort export. "
        "Authenticate with `Authorization: Token <key>` (POST /api/v1/auth/token/)."
    ),
    "VERSION": "1.0.0",
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "COMPONENT_SPLIT_REQUEST": True,
    # /api/docs/ and /api/redoc/ load their scripts from our static files, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The Idempotency-Key's 422, then every operation's error answers (biobank/api/schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "biobank.api.schema.document_key_reuse",
        "biobank.api.schema.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "AliquotStatusEnum": "biobank.models.samples.Aliquot.Status",
        "PlateStatusEnum": "biobank.models.qpcr.QpcrPlate.Status",
        "FollowUpStatusEnum": "biobank.models.patients.FollowUp.Status",
        "RunStatusEnum": "analysis.models.AnalysisRun.Status",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
