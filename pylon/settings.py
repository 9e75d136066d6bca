"""Pylon settings, read from the environment (12-factor).

Every value has a default that runs the whole product with no setup at all: a SQLite file under
``var/`` and Celery in eager mode. Production sets ``DATABASE_URL`` (PostgreSQL through psycopg 3),
``REDIS_URL`` (Celery broker and cache), ``SECRET_KEY``, ``JWT_SIGNING_KEY`` and ``DEBUG=false``.
The variables are listed in README.md.
"""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from corsheaders.defaults import default_headers as default_cors_headers

from pylon.cache import redis_cache

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Local state of the no-settings default (the SQLite file).
VAR_DIR = env.path("PYLON_VAR_DIR", default=BASE_DIR / "var")

# Development defaults. `pylon.checks` refuses to pass `check --deploy` while either is in use.
DEV_SECRET_KEY = "django-insecure-pylon-development-only-secret-key-0f3b9a"
DEV_JWT_SIGNING_KEY = "pylon-development-only-jwt-signing-key-do-not-deploy-7c1e"

SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # Pylon first: its templates (the operators' console) override the admin's.
    "pylon.apps.PylonConfig",
    "pylon.console.apps.PylonAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "pylon.idempotency.apps.IdempotencyConfig",
    "accounts.apps.AccountsConfig",
    "outbox.apps.OutboxConfig",
    "zones.apps.ZonesConfig",
    "workloads.apps.WorkloadsConfig",
    "scheduling.apps.SchedulingConfig",
    "notifications.apps.NotificationsConfig",
    "analytics.apps.AnalyticsConfig",
    "webhooks.apps.WebhooksConfig",
    "apikeys.apps.ApiKeysConfig",
    "events.apps.EventsConfig",
]

MIDDLEWARE = [
    # Outermost: every answer, even a 404 or a middleware's refusal, gets an id, a log line and a count.
    "pylon.observability.middleware.RequestIdMiddleware",
    "pylon.observability.middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "pylon.middleware.StaticFilesMiddleware",
    "pylon.middleware.UriTooLongMiddleware",
    "pylon.middleware.RejectNulBytesMiddleware",
    "pylon.middleware.DatabaseUnavailableMiddleware",
    "pylon.middleware.ChunkedBodyMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # Inside CORS (a 304 still carries its headers): ETag on every GET, If-None-Match → 304.
    "pylon.middleware.ConditionalGetMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "pylon.middleware.MethodNotAllowedMiddleware",
    # Outside ATOMIC_REQUESTS (which wraps only the view): claims commit before the view runs.
    "pylon.idempotency.middleware.IdempotencyMiddleware",
]

ROOT_URLCONF = "pylon.urls"
WSGI_APPLICATION = "pylon.wsgi.application"
ASGI_APPLICATION = "pylon.asgi.application"

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

# --- Database ---------------------------------------------------------------------------------
DEFAULT_SQLITE_PATH = Path(VAR_DIR) / "pylon.sqlite3"
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{DEFAULT_SQLITE_PATH}")}
if DATABASES["default"]["NAME"] == str(DEFAULT_SQLITE_PATH):
    # SQLite creates the file but not its folder: without this a fresh clone's first command
    # (makemigrations --check) warns "unable to open database file".
    DEFAULT_SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
# One transaction per write: a view that fails half way leaves nothing behind. The API's bases
# (pylon.api.viewsets.WritesInTransaction) open it only for unsafe methods; every other view is
# wrapped whole, as Django does.
DATABASES["default"]["ATOMIC_REQUESTS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (runserver, an eager Celery task, a management command) share the file.
    # Every transaction takes the write lock when it begins (IMMEDIATE), so writers queue for it (up to
    # the timeout) instead of failing when a read-then-write transaction (the capacity ledger's check
    # then hold) finds another writer ahead of it ("database is locked").
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # An unreachable database fails a request (503) after this, instead of holding it indefinitely.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT_SECONDS", default=3)
    )
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # The same backend, its health check free of a round trip when the socket is quiet.
        DATABASES["default"]["ENGINE"] = "pylon.db.postgresql"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Celery -------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
# The cache holds throttle counters and locks only: when Redis is down or frozen it fails open
# within CACHE_SOCKET_TIMEOUT_SECONDS and is skipped for CACHE_RETRY_AFTER_SECONDS (pylon.cache).
CACHE_SOCKET_TIMEOUT_SECONDS = env.float("CACHE_SOCKET_TIMEOUT_SECONDS", default=0.25)
CACHE_RETRY_AFTER_SECONDS = env.float("CACHE_RETRY_AFTER_SECONDS", default=5.0)
if REDIS_URL:
    CACHES = {
        "default": redis_cache(
            REDIS_URL,
            key_prefix=env.str("CACHE_KEY_PREFIX", default="pylon"),
            socket_timeout=CACHE_SOCKET_TIMEOUT_SECONDS,
            retry_after=CACHE_RETRY_AFTER_SECONDS,
        )
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# With no broker, tasks run eagerly; the in-memory transport still gets a host so that kombu does not
# warn "No hostname was supplied" whenever a connection is described.
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = None
# Without a broker the product still runs whole: tasks execute in-process, at once.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
# At least once: a message is acknowledged after its task ran, and one whose worker died is
# delivered again (immediately for a killed pool process, after the visibility timeout for a killed
# worker). Every task is idempotent.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
# Redis redelivers a message not acknowledged within this time; it must exceed the longest a task
# may run (the hard time limit), or a slow task would be delivered twice while still running.
CELERY_VISIBILITY_TIMEOUT_SECONDS = env.int("CELERY_VISIBILITY_TIMEOUT_SECONDS", default=CELERY_TASK_TIME_LIMIT + 60)
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=2.0)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT_SECONDS,
    "socket_connect_timeout": CELERY_BROKER_CONNECTION_TIMEOUT,
    # A frozen broker (accepting, never answering) fails a command after this instead of hanging.
    "socket_timeout": env.float("CELERY_BROKER_SOCKET_TIMEOUT", default=5.0),
    "retry_on_timeout": False,
    # How often a worker looks for messages whose worker died (older than the visibility timeout)
    # and puts them back on the queue; every look scans (no throttling).
    "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_INTERVAL_SECONDS", default=10),
    "unacked_restore_throttle": 1,
}
# Workers and beat reconnect on their own; publishes from them retry briefly, never unboundedly.
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = env.int("CELERY_BROKER_CONNECTION_MAX_RETRIES", default=100)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# The worker logs through LOGGING above (JSON in production, with task names and request ids).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE = {
    # Half-hourly, a few minutes after each settlement period starts, when NESO has published.
    "refresh-carbon-intensity": {
        "task": "zones.tasks.refresh_carbon_intensity",
        "schedule": crontab(minute="5,35"),
    },
    # Catches PENDING workloads left without recommendations (e.g. a handler gave up).
    "sweep-unrecommended-workloads": {
        "task": "scheduling.tasks.sweep_unrecommended",
        "schedule": crontab(minute="*/10"),
    },
    # Late starts and runs past their estimate hold the zone as time passes (workloads.capacity).
    "roll-capacity-holds": {
        "task": "workloads.tasks.capacity_holds_roll",
        "schedule": crontab(minute="*/5"),
    },
    "purge-idempotency-keys": {
        "task": "pylon.idempotency.tasks.purge_idempotency_keys",
        "schedule": crontab(minute=17),
    },
    # Publishes outbox events the after-commit attempt could not (the broker was down).
    "outbox-relay": {"task": "outbox.tasks.outbox_relay", "schedule": 60.0},
    "outbox-prune": {"task": "outbox.tasks.outbox_prune", "schedule": crontab(hour=3, minute=17)},
    "prune-account-email-records": {
        "task": "accounts.tasks.account_emails_prune",
        "schedule": crontab(hour=3, minute=27),
    },
    # Webhook retries: a delivery row holds its next attempt's time; this sends the due ones.
    "send-due-webhooks": {
        "task": "webhooks.tasks.webhooks_send_due",
        "schedule": 15.0,
    },
}

# --- Outbox (outbox/) -------------------------------------------------------------------------
# The after-commit publish: connect and send timeouts, then how long a process that failed to
# publish leaves it to the relay before trying again itself.
OUTBOX_PUBLISH_TIMEOUT_SECONDS = env.float("OUTBOX_PUBLISH_TIMEOUT_SECONDS", default=0.5)
OUTBOX_PUBLISH_BACKOFF_SECONDS = env.float("OUTBOX_PUBLISH_BACKOFF_SECONDS", default=10.0)
# The relay leaves events this young to their after-commit attempt, and republishes an event
# published this long ago that no worker has handled (its message was lost with the broker's data).
OUTBOX_RELAY_GRACE_SECONDS = env.float("OUTBOX_RELAY_GRACE_SECONDS", default=5.0)
OUTBOX_REDELIVER_AFTER_SECONDS = env.float(
    "OUTBOX_REDELIVER_AFTER_SECONDS", default=max(900.0, CELERY_VISIBILITY_TIMEOUT_SECONDS * 2.0)
)
OUTBOX_RETENTION_DAYS = env.int("OUTBOX_RETENTION_DAYS", default=30)
# How many events one broker message carries (``outbox_dispatch_batch``): a 5,000-row upload is ten
# messages, not 5,000, and a worker handles each chunk's events in one task.
OUTBOX_DISPATCH_BATCH = env.int("OUTBOX_DISPATCH_BATCH", default=500)

# --- Live event stream (events/) --------------------------------------------------------------
# A stream ticket (for an EventSource, which cannot send headers) is valid this long, and once.
STREAM_TICKET_TTL_SECONDS = env.int("STREAM_TICKET_TTL_SECONDS", default=30)
# An idle stream writes a `: ping` comment this often (proxies close silent connections).
STREAM_HEARTBEAT_SECONDS = env.float("STREAM_HEARTBEAT_SECONDS", default=15.0)
# The `retry:` hint: how long an EventSource waits before reconnecting.
STREAM_RETRY_MILLISECONDS = env.int("STREAM_RETRY_MILLISECONDS", default=3000)
# Open streams per user or API key, across every process; one more is a 429 `too_many_streams`.
STREAM_MAX_CONNECTIONS = env.int("STREAM_MAX_CONNECTIONS", default=5)
# Every process polls the log this often, so an event whose pub/sub nudge was lost is only delayed.
STREAM_POLL_SECONDS = env.float("STREAM_POLL_SECONDS", default=5.0)
# Events a stream reads from the log at a time (and so holds at most).
STREAM_BATCH_SIZE = env.int("STREAM_BATCH_SIZE", default=100)
# A client that takes longer than this to accept a write is disconnected (it resumes from the log).
STREAM_SEND_TIMEOUT_SECONDS = env.float("STREAM_SEND_TIMEOUT_SECONDS", default=30.0)

# --- Health -----------------------------------------------------------------------------------
# /healthz answers within this many seconds whatever a dependency does (each check runs with it).
HEALTH_CHECK_TIMEOUT_SECONDS = env.float("HEALTH_CHECK_TIMEOUT_SECONDS", default=2.0)
# /healthz reports the outbox failing when an event has waited for its handlers longer than this.
OUTBOX_BACKLOG_ALERT_SECONDS = env.float("OUTBOX_BACKLOG_ALERT_SECONDS", default=600.0)
# Retry-After of a 503 answered while the database is unreachable.
DATABASE_UNAVAILABLE_RETRY_AFTER_SECONDS = env.int("DATABASE_UNAVAILABLE_RETRY_AFTER_SECONDS", default=5)

# --- Auth -------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.backends.PersonBackend"]  # API-key principals never sign in
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Users who register without a join code land here; the organisation is created when missing.
DEFAULT_ORGANIZATION_SLUG = env.str("DEFAULT_ORGANIZATION_SLUG", default="independent")
DEFAULT_ORGANIZATION_NAME = env.str("DEFAULT_ORGANIZATION_NAME", default="Independent users")

# --- Account emails (accounts.emails, sent by Celery tasks) -----------------------------------
# EMAIL_URL: `consolemail://` prints every message (the embedded default); production sets
# `smtp+tls://user:password@host:587` (or `smtp+ssl://…:465`). Tests use Django's in-memory backend.
vars().update(
    {key: value for key, value in env.email_url("EMAIL_URL", default="consolemail://").items() if value is not None}
)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT_SECONDS", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Pylon <no-reply@pylon.localhost>")
# The SPA's pages that links in emails open, with `?uid=…&token=…` appended.
PASSWORD_RESET_URL = env.str("PASSWORD_RESET_URL", default="http://localhost:5173/reset-password")
EMAIL_CONFIRMATION_URL = env.str("EMAIL_CONFIRMATION_URL", default="http://localhost:5173/confirm-email")
# Django's token generator: a reset link works once, for this long.
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT_SECONDS", default=3600)
EMAIL_CONFIRMATION_TIMEOUT = env.int("EMAIL_CONFIRMATION_TIMEOUT_SECONDS", default=3 * 24 * 3600)
# The record that an account email was sent for an outbox event (so a redelivery sends nothing twice)
# is deleted this long after, once its event can no longer be delivered (daily).
ACCOUNT_EMAIL_RECORD_RETENTION_DAYS = env.int("ACCOUNT_EMAIL_RECORD_RETENTION_DAYS", default=30)
# Whether an account whose address is not confirmed may sign in (it still cannot submit workloads).
ACCOUNTS_ALLOW_UNVERIFIED_SIGN_IN = env.bool("ACCOUNTS_ALLOW_UNVERIFIED_SIGN_IN", default=True)

# --- REST framework ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    # The API key first: a bearer value that is not a Pylon key (`pyl_…`) is left to the JWT one.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apikeys.authentication.ApiKeyAuthentication",
        "pylon.api.authentication.JWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["pylon.api.renderers.ORJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["pylon.api.parsers.JSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "pylon.api.negotiation.ContentNegotiation",
    "DEFAULT_FILTER_BACKENDS": [
        "pylon.api.filters.FilterBackend",
        "pylon.api.filters.SafeSearchFilter",
        "pylon.api.filters.StrictOrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "pylon.api.pagination.PageNumberPagination",
    "DEFAULT_METADATA_CLASS": "pylon.api.metadata.PylonMetadata",
    "PAGE_SIZE": 25,
    "DEFAULT_SCHEMA_CLASS": "pylon.api.schema.PylonAutoSchema",
    "EXCEPTION_HANDLER": "pylon.api.exceptions.exception_handler",
    # Per user and per API key, each with its own rate (pylon.api.throttling; RateLimit-* headers).
    "DEFAULT_THROTTLE_CLASSES": ["pylon.api.throttling.PrincipalRateThrottle"],
    # Throttles key on the client address. With 0 trusted proxies it is the connection's REMOTE_ADDR
    # and X-Forwarded-For is ignored (anyone can forge it); behind N proxies that each append to it,
    # the Nth address from the right is the client. DRF's own default (None) trusts the header.
    "NUM_PROXIES": env.int("TRUSTED_PROXY_COUNT", default=0),
    "DEFAULT_THROTTLE_RATES": {
        "login": env.str("THROTTLE_LOGIN_RATE", default="10/min"),
        "register": env.str("THROTTLE_REGISTER_RATE", default="5/min"),
        # Password reset: per client address and, separately, per email address asked about.
        "password_reset": env.str("THROTTLE_PASSWORD_RESET_RATE", default="5/hour"),
        "password_reset_address": env.str("THROTTLE_PASSWORD_RESET_ADDRESS_RATE", default="3/hour"),
        # Following an emailed link (reset, confirmation), per client: bounds guessing at tokens.
        "auth_link": env.str("THROTTLE_AUTH_LINK_RATE", default="30/hour"),
        "email_confirmation_resend": env.str("THROTTLE_EMAIL_CONFIRMATION_RESEND_RATE", default="3/hour"),
        # Changing a password checks the current one: a stolen access token must not guess it.
        "password_change": env.str("THROTTLE_PASSWORD_CHANGE_RATE", default="10/hour"),
        "user": env.str("THROTTLE_USER_RATE", default="1200/min"),
        "api_key": env.str("THROTTLE_API_KEY_RATE", default="600/min"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DATETIME_FORMAT": "iso-8601",
    "COERCE_DECIMAL_TO_STRING": False,
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

# Rows a CSV export reads from the database at a time (a server-side cursor on PostgreSQL).
EXPORT_CHUNK_ROWS = env.int("EXPORT_CHUNK_ROWS", default=2000)

# Seconds a recompute's placement step may search when capacity binds (per chunk; 0: greedy's answer).
PLACEMENT_TIME_BUDGET_SECONDS = env.float("PLACEMENT_TIME_BUDGET_SECONDS", default=1.0)

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_TOKEN_MINUTES", default=5)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_TOKEN_DAYS", default=1)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "ALGORITHM": "HS256",
    # Its own key: a leaked SECRET_KEY (sessions, password reset links) must not mint API tokens.
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default=DEV_JWT_SIGNING_KEY),
    "AUDIENCE": env.str("JWT_AUDIENCE", default="pylon-api"),
    "ISSUER": env.str("JWT_ISSUER", default="pylon"),
    "LEEWAY": 0,
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "CHECK_USER_IS_ACTIVE": True,
    # A password change revokes every token issued before it.
    "CHECK_REVOKE_TOKEN": True,
    "TOKEN_OBTAIN_SERIALIZER": "accounts.api.serializers.PylonTokenObtainPairSerializer",
    "TOKEN_REFRESH_SERIALIZER": "accounts.api.serializers.PylonTokenRefreshSerializer",
}

# --- Idempotency keys (pylon.idempotency) ----------------------------------------------------
# A key's stored response is replayed for this long; then the key may be used afresh (and is purged).
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)
# A claim whose request has not finished after this long (its process died) is given up.
IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS = env.int("IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS", default=120)

# --- CORS (the SPA) ---------------------------------------------------------------------------
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=["http://localhost:5173"])
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_HEADERS = (*default_cors_headers, "idempotency-key", "x-request-id", "x-api-key", "if-none-match")
CORS_EXPOSE_HEADERS = [
    "Idempotent-Replayed",
    "X-Request-ID",
    "Retry-After",
    "ETag",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
]

# --- OpenAPI ----------------------------------------------------------------------------------
SPECTACULAR_SETTINGS = {
    "TITLE": "Pylon API",
    "DESCRIPTION": (
        "Carbon-aware compute scheduling. Users submit compute workloads; Pylon ranks UK grid zones "
        "and start times by forecast carbon intensity and price; operators assign them; Pylon "
        "records what each run really emitted and cost.\n\n"
        "Authentication: obtain a token pair at `POST /api/v1/auth/token/` and send "
        "`Authorization: Bearer <access>`. Every error has the `Error` shape."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs are public (they describe, they do not expose data); the endpoints are not.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    "COMPONENT_SPLIT_REQUEST": True,
    "GET_LIB_DOC_EXCLUDES": "pylon.api.schema.lib_doc_excludes",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "pylon.api.schema.document_repeated_query_arrays",
        "pylon.api.schema.reference_named_enums_in_parameters",
        "pylon.api.schema.document_polling_headers",
    ],
    "COMPONENT_NO_READ_ONLY_REQUIRED": False,
    "ENUM_ADD_EXPLICIT_BLANK_NULL_CHOICE": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    # validatorUrl null: Swagger UI would otherwise fetch a badge from validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # System fonts: the docs page fetches nothing from outside the server (pylon.docs).
    "REDOC_UI_SETTINGS": {
        "theme": {
            "typography": {
                "fontFamily": "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif",
                "headings": {"fontFamily": "system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif"},
                "code": {"fontFamily": "ui-monospace, SFMono-Regular, Menlo, Consolas, 'Liberation Mono', monospace"},
            }
        }
    },
    "ENUM_NAME_OVERRIDES": {
        "UserRoleEnum": "accounts.models.Role",
        "AuditActionEnum": "accounts.models.AuditAction",
        "ErrorCodeEnum": "pylon.api.exceptions.ErrorCode",
        "HealthStatusEnum": "pylon.health.HealthStatus",
        "WorkloadStatusEnum": "workloads.models.WorkloadStatus",
        "WorkloadTypeEnum": "workloads.models.WorkloadType",
        "UrgencyEnum": "workloads.models.Urgency",
        "BatchModeEnum": "workloads.batch.BatchMode",
        "WorkloadActionEnum": "workloads.state_machine.WorkloadAction",
        "PolicyPresetEnum": "scheduling.models.PolicyPreset",
        "InfeasibleConstraintEnum": "scheduling.models.InfeasibleConstraint",
        "NotificationKindEnum": "notifications.models.NotificationKind",
        "CarbonSourceEnum": "zones.models.CarbonSource",
        "IntensityIndexEnum": "zones.models.IntensityIndex",
        "AnalyticsBucketEnum": "analytics.periods.Bucket",
        "AnalyticsGroupByEnum": "analytics.selectors.GroupBy",
        "WebhookEventTypeEnum": "webhooks.models.WebhookEventType",
        "WebhookDeliveryStatusEnum": "webhooks.models.DeliveryStatus",
        "ApiKeyScopeEnum": "apikeys.models.ApiKeyScope",
    },
    "TAGS": [
        {"name": "auth", "description": "Registration, tokens and the signed-in profile."},
        {
            "name": "accounts",
            "description": "Organisation management for operators: the join code, members, the audit log; "
            "and the caller's own data (export, deletion).",
        },
        {"name": "zones", "description": "UK grid zones (data-centre regions) and their figures."},
        {"name": "workloads", "description": "Compute workloads: submission, lifecycle and dashboard figures."},
        {"name": "scheduling", "description": "Recommendations, the operators' queue, the policy and previews."},
        {"name": "analytics", "description": "Figures over time for the SPA's charts, and zones' weekly profiles."},
        {"name": "notifications", "description": "The signed-in user's own notifications."},
        {
            "name": "webhooks",
            "description": "Signed HTTP callbacks to an organisation's endpoints (Standard Webhooks).",
        },
        {"name": "api-keys", "description": "The organisation's API keys, for machines (operators)."},
        {
            "name": "events",
            "description": "The live event stream (Server-Sent Events) of workload changes and notifications.",
        },
        {"name": "health", "description": "Service health for load balancers and orchestrators."},
    ],
}

# --- Carbon-intensity data -------------------------------------------------------------------
NESO_API_BASE_URL = env.str("NESO_API_BASE_URL", default="https://api.carbonintensity.org.uk")
ELECTRICITYMAPS_API_BASE_URL = env.str("ELECTRICITYMAPS_API_BASE_URL", default="https://api.electricitymaps.com")
ELECTRICITYMAPS_API_TOKEN = env.str("ELECTRICITYMAPS_API_TOKEN", default="")
WATTTIME_API_BASE_URL = env.str("WATTTIME_API_BASE_URL", default="https://api.watttime.org")
WATTTIME_USERNAME = env.str("WATTTIME_USERNAME", default="")
WATTTIME_PASSWORD = env.str("WATTTIME_PASSWORD", default="")
CARBON_PROVIDER_TIMEOUT_SECONDS = env.float("CARBON_PROVIDER_TIMEOUT_SECONDS", default=10.0)
# A zone whose figures are older than this is flagged `is_stale` in the API.
CARBON_DATA_STALE_AFTER_MINUTES = env.int("CARBON_DATA_STALE_AFTER_MINUTES", default=90)
# The refresh retries transient provider errors in-process this many times, waiting 1×, 2×, 4× … this many
# seconds in between (bounded: an eager refresh never holds its caller long); Celery retries later ones.
CARBON_REFRESH_ATTEMPTS = env.int("CARBON_REFRESH_ATTEMPTS", default=3)
CARBON_REFRESH_BACKOFF_SECONDS = env.float("CARBON_REFRESH_BACKOFF_SECONDS", default=1.0)
# The most a provider's refresh lock lives (a lock left by a killed worker expires).
CARBON_REFRESH_LOCK_SECONDS = env.int("CARBON_REFRESH_LOCK_SECONDS", default=300)

# --- I18N, static -----------------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT_OVERRIDE", default=BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env.str(
            "STATICFILES_BACKEND",
            # The image sets the manifest storage after collectstatic; this default needs no build step.
            default="whitenoise.storage.CompressedStaticFilesStorage",
        )
    },
}
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=True)

# --- Security (production values come from the environment) -----------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Request bodies of this API are small JSON documents.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)
# Longer URLs are a 414 in the API's error shape (below gunicorn's own request-line limit of 8190).
MAX_URL_LENGTH = env.int("MAX_URL_LENGTH", default=4096)
# --- Webhooks ---------------------------------------------------------------------------------
# Development only: deliver to loopback/private addresses, and to http:// URLs.
WEBHOOK_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", default=False)
WEBHOOK_ALLOW_HTTP = env.bool("WEBHOOK_ALLOW_HTTP", default=False)
WEBHOOK_CONNECT_TIMEOUT_SECONDS = env.float("WEBHOOK_CONNECT_TIMEOUT_SECONDS", default=5.0)
WEBHOOK_TOTAL_TIMEOUT_SECONDS = env.float("WEBHOOK_TOTAL_TIMEOUT_SECONDS", default=10.0)
WEBHOOK_RESPONSE_MAX_BYTES = env.int("WEBHOOK_RESPONSE_MAX_BYTES", default=4096)
WEBHOOK_DISABLE_AFTER_DAYS = env.int("WEBHOOK_DISABLE_AFTER_DAYS", default=5)

# A batch upload (`POST /api/v1/workloads/batch/`) has its own, larger limits.
BATCH_UPLOAD_MAX_ROWS = env.int("BATCH_UPLOAD_MAX_ROWS", default=5000)
BATCH_UPLOAD_MAX_BYTES = env.int("BATCH_UPLOAD_MAX_BYTES", default=5 * 1024 * 1024)

# --- Metrics and logs (pylon.observability; README, "Operations") ------------------------------
# /metrics answers a request with `Authorization: Bearer <METRICS_TOKEN>` (when set) or from these networks.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"])
# A Celery worker on its own host serves its task metrics at http://ADDR:PORT/ (0: off). prometheus-client's
# exporter has no authentication: keep the address private (the default: loopback only).
CELERY_WORKER_METRICS_PORT = env.int("CELERY_WORKER_METRICS_PORT", default=0)
CELERY_WORKER_METRICS_ADDR = env.str("CELERY_WORKER_METRICS_ADDR", default="127.0.0.1")
# The Celery queues whose length /metrics reports.
CELERY_METRICS_QUEUES = env.list("CELERY_METRICS_QUEUES", default=["celery"])
# `plain` for people (the default), `json` for a log pipeline: one object per line, with request ids.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "pylon.observability.logging.ContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "pylon.observability.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # pylon.request logs every request once, with its id; Django's own 4xx/5xx lines would repeat it.
        "django.request": {"level": "ERROR"},
    },
}
