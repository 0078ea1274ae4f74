"""Causeway's one settings module: every value comes from the environment or the data directory."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from causeway.config import (
    broker_url,
    cache_url,
    database_from_url,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_oauth_clients,
    env_path,
    env_readable_file,
    env_str,
    smtp_from_url,
)
from causeway.sqlite.broker import transport_options as broker_transport_options

BASE_DIR = Path(__file__).resolve().parent
HOME = env_path("CAUSEWAY_HOME", Path.cwd() / "var")

ROOT_KEY_FILE = env_path("CAUSEWAY_ROOT_KEY_FILE", HOME / "root-key.json")
# The root keyset itself, as Tink JSON (read directly: the _FILE convention would clash with the above).
ROOT_KEY = os.environ.get("CAUSEWAY_ROOT_KEY", "")
ROOT_KEY_URI = env_str("CAUSEWAY_ROOT_KEY_URI", "")
TLS_CERT = env_path("CAUSEWAY_TLS_CERT", HOME / "tls" / "localhost.crt")
TLS_KEY = env_path("CAUSEWAY_TLS_KEY", HOME / "tls" / "localhost.key")
AUDIT_CHECKPOINT_FILE = env_path("CAUSEWAY_AUDIT_CHECKPOINT_FILE", HOME / "audit-checkpoints.jsonl")
WEB_BIND = env_str("CAUSEWAY_WEB_BIND", "127.0.0.1:8443")
WEB_WORKERS = env_int("CAUSEWAY_WEB_WORKERS", 2, minimum=1, maximum=64)
# `causeway up`'s web workers: one by default, which runs the jobs it starts in its own threads, so that
# the whole embedded installation stays within about half a gigabyte.
UP_WEB_WORKERS = env_int("CAUSEWAY_UP_WEB_WORKERS", 1, minimum=1, maximum=64)

_secret_file = env_path("CAUSEWAY_SECRET_KEY_FILE", HOME / "secret-key.txt")
SECRET_KEY = env_str("CAUSEWAY_SECRET_KEY", "")
if not SECRET_KEY:
    try:
        SECRET_KEY = _secret_file.read_text().strip()
    except FileNotFoundError:
        raise ImproperlyConfigured(
            f"CAUSEWAY_SECRET_KEY: not set and {_secret_file} does not exist (run `causeway init`)"
        ) from None
if len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("CAUSEWAY_SECRET_KEY: must be at least 50 characters long")

DEBUG = False
ALLOWED_HOSTS = env_list("CAUSEWAY_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list(
    "CAUSEWAY_CSRF_TRUSTED_ORIGINS", ["https://localhost:8443", "https://127.0.0.1:8443"]
)

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "csp",
    "ninja",
    "causeway.vault",
    "causeway.audit",
    "causeway.accounts",
    "causeway.workspaces",
    "causeway.access",
    "causeway.connections",
    "causeway.recipes",
    "causeway.runs",
    "causeway.apiplat",
    "causeway.watches",
    "causeway.web",
    "causeway.api",
    "causeway.cli",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Webhook calls leave here for the few middleware they need (causeway/web/calls.py).
    "causeway.web.calls.CallsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "causeway.audit.middleware.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "causeway.workspaces.middleware.IdleSessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
    "causeway.access.middleware.DefaultDenyMiddleware",
]

ROOT_URLCONF = "causeway.urls"
WSGI_APPLICATION = "causeway.wsgi.application"

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
                "causeway.web.context.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": database_from_url(
        "CAUSEWAY_DATABASE_URL",
        env_str("CAUSEWAY_DATABASE_URL", f"sqlite:///{HOME / 'causeway.sqlite3'}"),
        home=HOME,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The same SQLite, whose writers in one process queue on a lock (see causeway/sqlite/base.py);
    # each thread keeps its connection, as a worker keeps its own on PostgreSQL.
    DATABASES["default"]["ENGINE"] = "causeway.sqlite"
    DATABASES["default"]["CONN_MAX_AGE"] = 600
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "causeway.accounts.password_rules.ContextWordsValidator"},
    {"NAME": "causeway.accounts.password_rules.BreachedPasswordValidator"},
]
# Words of the operator's context a password may not hold, besides "causeway" (docs/operations.md).
PASSWORD_CONTEXT_WORDS = env_list("CAUSEWAY_PASSWORD_CONTEXT_WORDS", [])
# The operator's list of passwords known from breaches (docs/operations.md); None: no such list.
BREACHED_PASSWORDS_FILE = env_readable_file("CAUSEWAY_BREACHED_PASSWORDS_FILE")
# Staff need a second factor before any staff page or operation, and cannot turn it off (docs/accounts.md).
STAFF_MFA_REQUIRED = env_bool("CAUSEWAY_STAFF_MFA_REQUIRED", False)
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:home"

# Login throttling: five failures for one account from one address lock that
# pair out for fifteen minutes; the lockout itself is audited.
AXES_FAILURE_LIMIT = env_int("CAUSEWAY_LOGIN_FAILURE_LIMIT", 5, minimum=1, maximum=100)
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_FORM_FIELD = "username"
# Attempts are counted by the email's keyed blind index, so axes' tables hold no email address;
# successful sign-ins are in the sealed audit log, not in axes' plaintext access log.
AXES_USERNAME_CALLABLE = "causeway.accounts.services.login_throttle_key"
AXES_DISABLE_ACCESS_LOG = True
AXES_LOCKOUT_CALLABLE = "causeway.web.accounts_views.locked_out"

SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_NAME = "__Host-causeway-session"
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# The server enforces each workspace's inactivity timeout; this is only the ceiling.
SESSION_COOKIE_AGE = int(timedelta(days=14).total_seconds())
# However busy a session is, it ends this long after its sign-in (ASVS 7.3.2): then the person signs in
# again, with their second factor.
SESSION_LIFETIME = timedelta(
    hours=env_int("CAUSEWAY_SESSION_LIFETIME_HOURS", 14 * 24, minimum=1, maximum=14 * 24)
)
CSRF_COOKIE_NAME = "__Host-causeway-csrf"
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Strict"

SECURE_SSL_REDIRECT = env_bool("CAUSEWAY_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = 31536000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_PROXY_SSL_HEADER = None
X_FRAME_OPTIONS = "DENY"

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = False

# Causeway's own email (invitations, password resets, notices): to the SMTP server of CAUSEWAY_SMTP_URL,
# or else one file per message in the outbox under the data directory (`causeway mail list`).
EMAIL_FILE_PATH = HOME / "mail"
SMTP_URL = env_str("CAUSEWAY_SMTP_URL", "")
SMTP_CA_FILE = env_str("CAUSEWAY_SMTP_CA_FILE", "")
EMAIL_TIMEOUT = env_int("CAUSEWAY_SMTP_TIMEOUT", 10, minimum=1, maximum=120)
if SMTP_URL:
    if os.environ.get("CAUSEWAY_EMAIL_BACKEND"):
        raise ImproperlyConfigured("CAUSEWAY_EMAIL_BACKEND: set it or CAUSEWAY_SMTP_URL, not both")
    _smtp = smtp_from_url("CAUSEWAY_SMTP_URL", SMTP_URL)
    EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD = _smtp[:4]
    EMAIL_USE_SSL, EMAIL_USE_TLS = _smtp.use_ssl, _smtp.use_tls
    EMAIL_BACKEND = "causeway.mail.SmtpBackend"
else:
    EMAIL_BACKEND = env_str("CAUSEWAY_EMAIL_BACKEND", "causeway.mail.OutboxBackend")
# A password-reset link works once, for an hour (accounts.passwords).
PASSWORD_RESET_TIMEOUT = 3600
DEFAULT_FROM_EMAIL = env_str("CAUSEWAY_EMAIL_FROM", "causeway@localhost")
BASE_URL = env_str("CAUSEWAY_BASE_URL", "https://localhost:8443")
# Development and tests only: an OpenID Connect provider on this machine's loopback address may be
# spoken to over plain http (docs/sso.md). Every other provider address must be https.
SSO_LOOPBACK_HTTP = env_bool("CAUSEWAY_SSO_LOOPBACK_HTTP", False)
# The installation's own OAuth clients, by connector key (docs/connections.md); a workspace's OAuth
# profile replaces one. Best given as a file (CAUSEWAY_OAUTH_CLIENTS_FILE): it holds client secrets.
OAUTH_CLIENTS = env_oauth_clients("CAUSEWAY_OAUTH_CLIENTS")

CELERY_BROKER_URL = broker_url(
    "CAUSEWAY_BROKER_URL",
    env_str("CAUSEWAY_BROKER_URL", f"sqla+sqlite:///{HOME / 'broker.sqlite3'}"),
)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django support closes every database connection before and after each task unless told to
# reuse them: on PostgreSQL each job then paid a new connection (TCP, authentication, a new backend
# process). A worker keeps its connection as a web request does, for CONN_MAX_AGE; a task drops one
# that errored or aged first (`close_old_connections` in `causeway.celery`), and Celery recycles it at
# the latest after this many tasks.
CELERY_DB_REUSE_MAX = 1000
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(env_path("CAUSEWAY_BEAT_SCHEDULE_FILE", HOME / "beat-schedule"))
# The embedded broker is one SQLite file that web, worker and beat all write to: a process
# waits for the write lock rather than failing a publish while another holds it.
# Redis hands an unacknowledged message to another worker after the visibility timeout. A job that runs
# longer than that still runs once: the second delivery finds the job's lease held and does nothing
# (the Job row, not the broker, says who runs a job). The sweep that gives messages back runs often
# enough for a short timeout to mean what it says.
BROKER_VISIBILITY_TIMEOUT = env_int("CAUSEWAY_BROKER_VISIBILITY_TIMEOUT", 3600, minimum=1, maximum=7 * 86400)
# Every key and channel Causeway keeps in Redis (the broker's, the refusal counts) under this prefix, so
# that installations sharing one Redis database never take each other's jobs or counts.
REDIS_KEY_PREFIX = env_str("CAUSEWAY_REDIS_KEY_PREFIX", "")
if CELERY_BROKER_URL.startswith("sqla+sqlite"):
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = broker_transport_options(CELERY_BROKER_URL)
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": BROKER_VISIBILITY_TIMEOUT,
        "unacked_restore_interval": max(1, min(10, BROKER_VISIBILITY_TIMEOUT // 2)),
        "unacked_restore_throttle": 1,
    }
    if REDIS_KEY_PREFIX:
        CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = REDIS_KEY_PREFIX
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
# The embedded broker is a table the worker polls; kombu's default of once a second hands each pool
# process at most one job a second. A tenth of a second is a cheap indexed read on an idle table.
BROKER_POLLING_INTERVAL = env_float("CAUSEWAY_BROKER_POLLING_INTERVAL", 0.1, minimum=0.01, maximum=5.0)
# The web server's workers run the jobs they start in this many threads each, claimed and leased like a
# worker's (the worker takes what they do not). On by default with the embedded broker, where it saves a
# job the broker's SQLite table; at scale the jobs go through Celery. A webhook whose caller waits for the
# job's answer always has it run by the web process holding the call.
JOBS_IN_WEB = env_bool("CAUSEWAY_JOBS_IN_WEB", CELERY_BROKER_URL.startswith("sqla+sqlite"))
JOB_THREADS = env_int("CAUSEWAY_JOB_THREADS", 4, minimum=1, maximum=64)
# Jobs queued in one web process beyond this go to the broker instead.
JOB_THREADS_QUEUE = env_int("CAUSEWAY_JOB_THREADS_QUEUE", 256, minimum=1, maximum=100000)
CELERY_WORKER_CONCURRENCY = env_int("CAUSEWAY_WORKER_CONCURRENCY", 2, minimum=1, maximum=64)
# Jobs (rule 15). A worker holds a job by a lease it renews while it runs; the reaper gives a job whose
# lease ran out to another worker, or fails it after JOB_MAX_ATTEMPTS claims.
JOB_LEASE_SECONDS = env_int("CAUSEWAY_JOB_LEASE_SECONDS", 60, minimum=2, maximum=3600)
JOB_HEARTBEAT_SECONDS = max(0.5, JOB_LEASE_SECONDS / 4)
JOB_MAX_ATTEMPTS = env_int("CAUSEWAY_JOB_MAX_ATTEMPTS", 3, minimum=1, maximum=100)
JOB_MAX_DURATION_SECONDS = env_int("CAUSEWAY_JOB_MAX_DURATION_SECONDS", 86400, minimum=1, maximum=7 * 86400)
REAPER_INTERVAL_SECONDS = env_int("CAUSEWAY_REAPER_INTERVAL_SECONDS", 15, minimum=1, maximum=3600)
# Refused calls (bad webhook signatures, bad API tokens) are counted per source address. Past its
# allowance in an interval a source is answered 429 without its calls being examined, and its refusals
# reach the audit log as one event at once and one with the count when the interval closes. The counts
# are shared by every web process: in the database, or in Redis (by default the broker's) at scale.
CACHE_URL = cache_url("CAUSEWAY_CACHE_URL", env_str("CAUSEWAY_CACHE_URL", ""), broker=CELERY_BROKER_URL)
THROTTLE_INTERVAL_SECONDS = env_int("CAUSEWAY_THROTTLE_INTERVAL_SECONDS", 60, minimum=1, maximum=3600)
THROTTLE_WEBHOOK_REFUSALS = env_int("CAUSEWAY_THROTTLE_WEBHOOK_REFUSALS", 20, minimum=1, maximum=100000)
THROTTLE_API_AUTH_FAILURES = env_int("CAUSEWAY_THROTTLE_API_AUTH_FAILURES", 20, minimum=1, maximum=100000)
THROTTLE_SIGN_IN_FAILURES = env_int("CAUSEWAY_THROTTLE_SIGN_IN_FAILURES", 30, minimum=1, maximum=100000)
# How long a webhook sender's Idempotency-Key names the job its first call started.
WEBHOOK_IDEMPOTENCY_SECONDS = env_int(
    "CAUSEWAY_WEBHOOK_IDEMPOTENCY_SECONDS", 86400, minimum=300, maximum=30 * 86400
)
# How long each answered API call (and each day's tally of calls refused for a limit) is kept for usage:
# beat's daily purge forgets older ones.
API_CALL_RETENTION_DAYS = env_int("CAUSEWAY_API_CALL_RETENTION_DAYS", 30, minimum=1, maximum=3650)
AUDIT_CHECKPOINT_SECONDS = env_int("CAUSEWAY_AUDIT_CHECKPOINT_SECONDS", 300, minimum=5, maximum=86400)
# How often beat sends the failure notices that became due (an interval passed, a try to repeat).
NOTICE_SWEEP_SECONDS = env_int("CAUSEWAY_NOTICE_SWEEP_SECONDS", 60, minimum=5, maximum=3600)
CELERY_BEAT_SCHEDULE = {
    # A cut of a chain's tail can only hide events newer than its last checkpoint.
    "audit-checkpoint": {
        "task": "causeway.audit.tasks.checkpoint_chains",
        "schedule": timedelta(seconds=AUDIT_CHECKPOINT_SECONDS),
    },
    "audit-verify": {
        "task": "causeway.audit.tasks.verify_chains",
        "schedule": crontab(hour=3, minute=17),
    },
    # Re-seals values still under a retired primary key, a small batch at a time.
    "vault-reencrypt": {"task": "vault.reencrypt", "schedule": 300.0},
    # Recovers jobs whose worker stopped, re-sends jobs whose message a broker lost, ends overdue jobs.
    "runs-reap-jobs": {
        "task": "causeway.runs.tasks.reap_jobs",
        "schedule": timedelta(seconds=REAPER_INTERVAL_SECONDS),
        # A reaper run that waited longer than its interval is stale: the next one does its work.
        "options": {"expires": REAPER_INTERVAL_SECONDS},
    },
    # Refusals whose interval closed are written as one event each, with their count.
    "audit-flush-refusals": {
        "task": "causeway.audit.tasks.flush_refusals",
        "schedule": timedelta(seconds=THROTTLE_INTERVAL_SECONDS),
        "options": {"expires": THROTTLE_INTERVAL_SECONDS},
    },
    # Accepted webhook calls are remembered only as long as they could come back.
    "runs-purge-webhook-deliveries": {
        "task": "causeway.runs.tasks.purge_webhook_deliveries",
        "schedule": 300.0,
        "options": {"expires": 300},
    },
    # SAML assertions are remembered against replay only while they are valid.
    "accounts-purge-saml-assertions": {
        "task": "causeway.accounts.tasks.purge_saml_assertions",
        "schedule": 300.0,
        "options": {"expires": 300},
    },
    "runs-purge-job-history": {
        "task": "causeway.runs.tasks.purge_job_history",
        "schedule": crontab(hour=2, minute=41),
    },
    # Recipe triggers: due schedules, and polls whose interval has passed (each at most once per time).
    # A tick that waited in the queue past the next one is dropped: that one does its work.
    "runs-schedule-tick": {
        "task": "causeway.runs.triggers.schedule_tick",
        "schedule": 30.0,
        "options": {"expires": 30},
    },
    "watches-sweep": {
        "task": "causeway.watches.tasks.sweep",
        "schedule": timedelta(seconds=NOTICE_SWEEP_SECONDS),
        "options": {"expires": NOTICE_SWEEP_SECONDS},
    },
    "runs-poll-tick": {
        "task": "causeway.runs.triggers.poll_tick",
        "schedule": 30.0,
        "options": {"expires": 30},
    },
}

NINJA_PAGINATION_PER_PAGE = 50

LOG_LEVEL = env_choice("CAUSEWAY_LOG_LEVEL", "INFO", ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Every handler masks known secret values, raw or encoded, before anything is written.
    "filters": {
        "mask": {"()": "causeway.vault.masking.MaskingFilter"},
        "url_secrets": {"()": "causeway.logfilters.RedactUrlSecrets"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["url_secrets", "mask"],
        }
    },
    "root": {
        "handlers": ["console"],
        "level": LOG_LEVEL,
    },
    "loggers": {"axes": {"level": "WARNING"}},
}
