"""One settings module, read from the environment (SPEC Appendix B).

Defaults are for local use (SQLite under var/, ORM broker); production sets
DATABASE_URL, SECRET_KEY, ALLOWED_HOSTS and, for several worker machines,
REDIS_URL. Bad values fail loudly with the variable's name.
"""

import os
import zoneinfo
from pathlib import Path

import dj_database_url
import dj_email_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name, default):
    value = os.getenv(name, default)
    if value not in ("True", "False", "true", "false", "1", "0", "on", "off"):
        raise ImproperlyConfigured(f"{name} must be True/False (or 1/0, on/off), not {value!r}")
    return value in ("True", "true", "1", "on")


def envint(name, default):
    value = os.getenv(name, default)
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


def envlist(name, default=""):
    return [item.strip() for item in os.getenv(name, default).split(",") if item.strip()]


SECRET_KEY = os.getenv("SECRET_KEY", "dev-only-insecure-key-set-SECRET_KEY-in-production")
DEBUG = envbool("DEBUG", "False")
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")

# HTTPS: on by default (off by default with DEBUG on, for runserver), so that
# `check --deploy` of a production install has nothing to say: plain-HTTP
# requests are redirected, cookies are Secure and browsers are told (HSTS) to
# use HTTPS only. Behind a TLS-terminating proxy, gunicorn reads
# X-Forwarded-Proto from the addresses in FORWARDED_ALLOW_IPS.
# `make run` (plain HTTP on 127.0.0.1) and the tests turn HTTPS off.
HTTPS = envbool("HTTPS", "False" if DEBUG else "True")
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", "31536000") if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", "True")
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", "True")

INSTALLED_APPS = [
    "crm.apps.AdminConfig",  # django.contrib.admin, with crm.admin.AdminSite as admin.site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served by the app (no CDN)
    "django_q",
    "crm",
    "leads",
    "automation",
]

MIDDLEWARE = [
    "crm.errors.RequestIdMiddleware",  # first: every log line of a request carries its id
    "django.middleware.security.SecurityMiddleware",
    # Static files from the app itself, with DEBUG off too (compressed, cached forever).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Database sessions whose cookie is read through crm.validation (a NUL is no session).
SESSION_ENGINE = "crm.sessions"

ROOT_URLCONF = "crm.urls"
WSGI_APPLICATION = "crm.wsgi.application"

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

# Database. Persistent connections matter for django-q2 workers: with
# CONN_MAX_AGE=0 every broker call reconnects (see shared/DJANGO-Q2.md).
# Django's psycopg connection pool is *not* enabled: it breaks qcluster.
(BASE_DIR / "var").mkdir(exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        os.getenv("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'var' / 'crm.sqlite3'}",
        conn_max_age=envint("CONN_MAX_AGE", "600"),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, with statements sent along with the COMMIT (crm.db.postgresql).
    DATABASES["default"]["ENGINE"] = "crm.db.postgresql"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite is the zero-setup demo database, written by web, workers and the
    # dispatcher at once. WAL: readers never block the writer nor it them.
    # IMMEDIATE: a transaction takes the write lock when it begins, so it
    # waits (up to `timeout` seconds) for the writer of the moment; a deferred
    # one would take a read lock first and fail at once with "database is
    # locked" when it tries to upgrade it while another writes.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": envint("SQLITE_BUSY_TIMEOUT", "20"),
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        }
    )
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.getenv("TIME_ZONE", "America/New_York")
try:
    zoneinfo.ZoneInfo(TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(f"TIME_ZONE must be an IANA zone name, not {TIME_ZONE!r}") from None
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.getenv("STATIC_ROOT") or BASE_DIR / "var" / "static")
# `collectstatic` (part of `make run` and of the Docker image) writes hashed,
# compressed copies to STATIC_ROOT; WhiteNoise serves them.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Email: EMAIL_URL (e.g. smtp://user:pass@host:587/?tls=True, console://,
# locmem://) or Django's console backend for local use.
if os.getenv("EMAIL_URL"):
    vars().update(dj_email_url.config(env="EMAIL_URL"))
else:
    EMAIL_BACKEND = os.getenv("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.getenv("DEFAULT_FROM_EMAIL", "workflows@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
ADMIN_EMAILS = envlist("ADMIN_EMAILS")

# Outbound requests of INTEGRATION actions to loopback/private/link-local
# addresses are refused unless this is on (tests turn it on), or unless the
# URL starts with one of INTEGRATION_ALLOWED_URLS (the demo's own receiver).
INTEGRATION_ALLOW_PRIVATE_NETWORKS = envbool("INTEGRATION_ALLOW_PRIVATE_NETWORKS", "False")
INTEGRATION_ALLOWED_URLS = envlist("INTEGRATION_ALLOWED_URLS")
# /demo/receiver/ (a webhook target that acknowledges what it is sent) answers
# only when this is on: `make run` turns it on, a production install has no such page.
DEMO_RECEIVER = envbool("DEMO_RECEIVER", "False")
# The send-time guard (SPEC C.3): a call without an end that started more than
# this many seconds ago is not live (Skip If Live Call ignores it).
LIVE_CALL_MAX_AGE = envint("LIVE_CALL_MAX_AGE", "14400")
if LIVE_CALL_MAX_AGE <= 0:
    raise ImproperlyConfigured(f"LIVE_CALL_MAX_AGE must be > 0 seconds, not {LIVE_CALL_MAX_AGE}")
# The occurrence journal (SPEC C.6: what a backtest replays) keeps this many days
# (pruned daily); 0 turns it off: nothing is written.
JOURNAL_DAYS = envint("JOURNAL_DAYS", "30")
if JOURNAL_DAYS < 0:
    raise ImproperlyConfigured(f"JOURNAL_DAYS must be >= 0 days, not {JOURNAL_DAYS}")
SMS_PROVIDER_URL = os.getenv("SMS_PROVIDER_URL", "")
VB_PROVIDER_URL = os.getenv("VB_PROVIDER_URL", "")

REDIS_URL = os.getenv("REDIS_URL", "")

# /metrics: with a token, only `Authorization: Bearer <token>`; without, loopback only.
METRICS_TOKEN = os.getenv("METRICS_TOKEN", "")

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if REDIS_URL:
    CACHES["default"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
    }

# django-q2. retry must exceed timeout (a task still running after `retry`
# seconds is delivered again); save_limit=-1 keeps no successes: our own log
# is the record of execution. Checked by crm.checks.
Q_CLUSTER = {
    "name": os.getenv("Q_CLUSTER_NAME", "crm"),
    "workers": envint("Q_WORKERS", "2"),
    "timeout": 120,
    "retry": 300,
    "max_attempts": 1,
    "save_limit": -1,
    "ack_failures": True,
    "bulk": 10,
    "poll": 0.2,
    "catch_up": False,
    "label": "Task queue",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
if envbool("Q_SYNC", "False"):
    Q_CLUSTER["sync"] = True

# The most a request body may hold (Django's forms, and the API's parsers in
# crm.rest, which also bound JSON nesting): a workflow export of a few hundred
# workflows fits; anything larger is refused before it is parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# Every value from outside is read through crm.validation: the parsers, token
# check, pagination and filter backend here are where the API applies it.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "crm.rest.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "crm.rest.JSONParser",
        "crm.rest.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["crm.permissions.ModelPermissions"],
    "EXCEPTION_HANDLER": "crm.rest.exception_handler",
    "DEFAULT_FILTER_BACKENDS": [
        "crm.filters.FilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    # Every list pages; ?limit= above crm.rest.MAX_PAGE_SIZE (1000) is capped.
    "DEFAULT_PAGINATION_CLASS": "crm.rest.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CRM Workflow Automation API",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc from drf-spectacular-sidecar's files: the docs work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "crm.errors.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": "plain",
        }
    },
    "root": {"handlers": ["console"], "level": os.getenv("LOG_LEVEL", "INFO")},
    # urllib3 logs each request's URL at DEBUG, auth query and all: never below WARNING.
    "loggers": {"urllib3": {"level": "WARNING"}},
}
