"""Typed, frozen settings, read once from the environment (prefix ``PROACTAX_``).

Defaults give the embedded local setup: a SQLite file under ``.run/`` and a single-node
Kafka broker on 127.0.0.1. Every process builds one ``Settings`` at start-up
(``get_settings()``) and passes it down; nothing else reads ``os.environ``. The
cross-field checks are in core/settings_checks.py (with ``SettingsError``), the sign-in
configuration derived from the settings in core/sign_in.py.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from collections.abc import Mapping
from pathlib import Path

from core.settings_checks import (
    SettingsError,
    require_instant,
    validate_identity,
    validate_notifier,
    validate_portal,
    validate_rotation,
)

PREFIX = "PROACTAX_"
KAFKA_VERSION = "4.0.2"
TELEGRAM_API = "https://api.telegram.org"
# The emulator accepts this token; a real bot token is set with PROACTAX_TELEGRAM_BOT_TOKEN.
EMULATOR_BOT_TOKEN = "1000000001:proactax-emulator-token"  # noqa: S105 (not a secret)
# The HMAC key of verification and sign-in codes when PROACTAX_NOTIFIER_SECRET is empty:
# accepted only with PROACTAX_DEVELOPMENT=1 (it is in the source, so anyone can compute it).
DEVELOPMENT_NOTIFIER_SECRET = "proactax-development-notifier-secret"  # noqa: S105
MIN_SECRET_CHARS = 32  # a production HMAC key: e.g. `openssl rand -base64 32`
# Values that are in this repository and so are no secret: refused outside development.
BUILT_IN_SECRETS = frozenset({"", DEVELOPMENT_NOTIFIER_SECRET, EMULATOR_BOT_TOKEN})
# The secrets each long-running process needs (Settings.require_secrets): the portal signs
# and checks codes; the notifier and the bot also talk to Telegram; the webhook receiver
# checks Telegram's secret-token header.
SERVICE_SECRETS: dict[str, tuple[str, ...]] = {
    "portal": ("notifier_secret",),
    "notifier": ("notifier_secret", "telegram_bot_token"),
    "bot": ("notifier_secret", "telegram_bot_token"),
    "webhook": ("telegram_bot_token", "telegram_webhook_secret"),
}


def _project_root() -> Path:
    return Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    run_dir: Path
    # Development mode (PROACTAX_DEVELOPMENT=1: `make run` and the tests): built-in and empty
    # secrets are accepted (the emulator's bot token, the development HMAC key). Outside it
    # the portal, notifier, bot and webhook receiver refuse to start without real secrets;
    # the OneID and OpenID Connect stand-ins run only here (docs/portal.md).
    development: bool = False
    # Kafka broker (the launcher) and clients
    broker_host: str = "127.0.0.1"
    broker_port: int = 9092
    controller_port: int = 9093
    broker_heap: str = "512m"
    broker_data_dir: Path | None = None  # default: <run_dir>/kafka
    broker_cache_dir: Path | None = None  # default: ~/.cache/proactax/kafka-<version>
    broker_start_timeout_s: float = 90.0
    kafka_bootstrap: str | None = None  # default: <broker_host>:<broker_port>
    # Client security (issue 14): SASL_SSL with SCRAM-SHA-512 against the launcher's broker
    # (its CA at <broker data>/tls/ca.pem, its generated passwords in
    # <broker data>/credentials.json, 0600). PLAINTEXT only to measure the cost (bench).
    # Each process names its principal (ops/kafka_security.py: PRINCIPALS); production
    # sets kafka_username and kafka_password instead of a credentials file.
    kafka_security_protocol: str = "SASL_SSL"
    kafka_principal: str = ""
    kafka_username: str = ""
    kafka_password: str = ""
    kafka_credentials_file: Path | None = None  # default: <broker data>/credentials.json
    kafka_ca_file: Path | None = None  # default: <broker data>/tls/ca.pem
    # Tests run several isolated pipelines on one broker; production leaves this empty.
    topic_namespace: str = ""
    partitions: int = 4
    # Stream worker
    app_id: str = "proactax"
    table_store: str = "memory://"
    # The return lifecycle (agents/lifecycle.py: decisions, payments, notices, timers) runs
    # in every worker by default; a deployment (or bench/season.py, which measures the
    # registry ► returns ► projection chain alone) can run it in fewer processes.
    worker_lifecycle: bool = True
    worker_web_port: int = 0  # 0 = faust's web server off
    # Changelog records a state restore applies at a time, each chunk with its checkpoint
    # (a restore cut off resumes from the last one): streams/transactions.py.
    restore_chunk: int = 1000
    # Development and tests only (streams/faults.py): the worker kills itself (as kill -9)
    # the first time it reaches this point ("before_commit", "restore", "returns_projection",
    # ...), or stops there with "stop_<point>". Empty in every deployment.
    fault_point: str = ""
    # Database
    database_url: str | None = None  # default: sqlite file under run_dir
    # Tax years the service accepts events for
    tax_year_min: int = 2023
    tax_year_max: int = 2026  # the newest year tax/parameters/ covers
    # Portal (integrator HTTP API now; cabinet and dashboard later)
    portal_host: str = "127.0.0.1"
    portal_port: int = 8080
    # Completeness (CONTRACT.md): a year's returns are first computed once every registry
    # below has sent registry.period_closed.v1 for it, or at the cut-off (MM-DD of the
    # following year, Tashkent time), whichever comes first.
    completeness_registries: str = "payroll,rental,property_sale,dividend,deduction"
    completeness_cutoff: str = "02-01"
    # The clock port: empty = the system clock; an RFC 3339 instant = "today is ..." for
    # demos and tests (the clock starts there and runs forward in real time).
    clock_start: str = ""
    # Registry event validation (contracts/registry_events.py, ValidationPolicy).
    # The PINFL check digit (weights 7,3,1 over digits 1-13, mod 10) comes from a
    # low-confidence source (domain brief, "Identity"): switch it off if real PINFLs fail it.
    pinfl_check_digit: bool = True
    max_event_bytes: int = 65536  # larger values go to the dead letters as too_large
    # The HTTP ingest API (portal/api/ingest.py): the largest request body, and per API key
    # a request rate (bursts up to ingest_key_burst) and requests in flight; over them it
    # answers 429 with Retry-After. New API keys expire after api_key_expiry_days.
    ingest_max_body_bytes: int = 4 * 1024 * 1024
    ingest_key_rate_per_s: float = 20.0
    ingest_key_burst: int = 50
    ingest_key_concurrency: int = 4
    api_key_expiry_days: int = 365
    # Upper bound of any *_tiyin amount: 10**15 tiyin = 10 trillion soum, far above any
    # one person's income or property price; larger values are out_of_range (typo guard).
    money_ceiling_tiyin: int = 10**15
    # Notifier and Telegram bot (docs/notifier.md). An empty bot token means the Bot API
    # emulator (notifier/telegram/emulator) on emulator_host:emulator_port with its own
    # token; a real token talks to telegram_api_url (default https://api.telegram.org).
    telegram_bot_token: str = ""
    telegram_api_url: str = ""
    telegram_bot_username: str = "proactax_bot"  # deep links: t.me/<username>?start=<token>
    telegram_emulator_host: str = "127.0.0.1"
    telegram_emulator_port: int = 8081
    # Production receive path: Telegram posts to webhook_url; the receiver listens on
    # webhook_host:webhook_port and checks the X-Telegram-Bot-Api-Secret-Token header.
    telegram_webhook_url: str = ""
    telegram_webhook_secret: str = ""
    telegram_webhook_host: str = "127.0.0.1"
    telegram_webhook_port: int = 8082
    # Fleet-wide send budget (every notifier and bot process together): messages per
    # second; with paid broadcast on, telegram_paid_rate_per_s (Telegram allows <= 1000).
    telegram_rate_per_s: float = 30.0
    telegram_paid_broadcast: bool = False
    telegram_paid_rate_per_s: float = 1000.0
    telegram_per_chat_interval_s: float = 1.0  # at most one message per chat per second
    # No broadcast notices in these hours (Asia/Tashkent); replies to the taxpayer are exempt.
    quiet_hours: str = "21:00-09:00"
    link_token_ttl_s: int = 900  # one-time deep-link tokens issued by the portal
    sign_in_code_ttl_s: int = 300  # one-time portal sign-in codes sent through the bot
    sign_in_code_max_attempts: int = 5
    button_ttl_days: int = 120  # buttons on a notice work until the season is over
    # HMAC key for verification codes and sign-in codes (at least 32 characters); empty =
    # the development key, accepted only with PROACTAX_DEVELOPMENT=1. Rotation: put the new
    # key in notifier_secret and the old one in notifier_secret_previous until the instant
    # notifier_secret_previous_until (RFC 3339): codes made with either key are accepted
    # until then, new codes use the new key (docs/security.md, "Rotating the notifier key").
    notifier_secret: str = ""
    notifier_secret_previous: str = ""
    notifier_secret_previous_until: str = ""
    notifier_instance: str = ""  # claims of this sender process; default: the host name
    sms_fallback: bool = True  # the SMS adapter (a stub) when Telegram cannot be used
    portal_public_url: str = ""  # deep links into the portal; default http://portal_host:port
    # Return lifecycle (docs/lifecycle.md). Reminders: days before the declaration deadline
    # (1 April) and before the payment deadline (1 June), comma-separated.
    reminder_days: str = "30,7,1"
    payment_reminder_days: str = "30,7,1"
    dispute_response_working_days: int = 10  # respond_by of disputes.v1 (Tax Code Art 86 days)
    lifecycle_timer_interval_s: float = 5.0  # reminders, overdue, unanswered disputes
    payment_reconcile_interval_s: float = 2.0  # settle every pending payment with the gateway
    # The payment gateway stub (lifecycle/gateway.py): success, decline, timeout (the money
    # moves but the answer is lost) or delay (settles payment_stub_delay_s later); per
    # taxpayer overrides "PINFL=mode,PINFL=mode" for tests and demos.
    payment_stub_mode: str = "success"
    payment_stub_delay_s: float = 3.0
    payment_stub_overrides: str = ""
    # A file holding "now" (RFC 3339) that every process reads instead of a clock: one
    # process (proactax demo --from/--to, tests) runs a season in minutes. Empty = off.
    clock_file: str = ""
    # Web portal: cabinet and STC dashboard (docs/portal.md). Session cookies are Secure
    # unless portal_cookie_secure is off (local http only); a session ends after
    # portal_session_idle_s without a request, and portal_session_max_s after sign-in.
    portal_cookie_secure: bool = True
    portal_session_idle_s: int = 1800
    portal_session_max_s: int = 43200
    # Sign-in throttles (docs/security.md): progressive delays, never hard locks. Each
    # key (a PINFL or staff account from one client; one client) has this many attempts
    # free, then waits portal_throttle_delay_s, doubling with each further attempt up to
    # portal_throttle_max_delay_s; a key is forgotten after portal_throttle_window_s idle.
    portal_throttle_window_s: int = 86400
    portal_throttle_delay_s: float = 2.0
    portal_throttle_max_delay_s: float = 900.0
    portal_code_max_failures: int = 10  # free code guesses per (PINFL, client)
    portal_address_max_failures: int = 50  # free sign-in attempts and code requests per client
    portal_staff_max_failures: int = 5  # free password attempts per (account, client)
    # The client is the TCP peer, unless the peer is one of these proxies (comma-separated
    # addresses or CIDR networks): then the last X-Forwarded-For hop no proxy added.
    # IPv6 clients are grouped by /64 (one subscriber's network).
    portal_trusted_proxies: str = ""
    portal_metrics_token: str = ""  # Bearer token of /metrics; required outside development
    portal_dashboard_cache_s: float = 10.0  # dashboard figures are recomputed at most this often
    # Sign-in with OneID (docs/portal.md): OAuth 2.0 with OneID's own grant types. Set all of
    # authorize/token/identify URLs, client id and secret for the real provider (a half set
    # is refused at start); with none set and development on, the local OneID stand-in.
    oneid_authorize_url: str = ""
    oneid_token_url: str = ""  # grant_type=one_authorization_code
    oneid_identify_url: str = ""  # grant_type=one_access_token_identify
    oneid_logout_url: str = ""  # grant_type=one_log_out; default: the token URL
    oneid_client_id: str = ""
    oneid_client_secret: str = ""
    oneid_scope: str = ""  # default: the client id, as public integrations send it
    oneid_standin_host: str = "127.0.0.1"
    oneid_standin_port: int = 8084
    # Sign-in with a standard OpenID Connect provider (code + PKCE, nonce, ID token checked
    # against the provider's JWKS). Issuer, client id and secret together, or none; with
    # none and development on, the local OpenID Connect stand-in.
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_scope: str = "openid"
    oidc_pinfl_claim: str = "pinfl"  # the ID-token claim that holds the PINFL
    oidc_standin_host: str = "127.0.0.1"
    oidc_standin_port: int = 8085
    identity_state_ttl_s: int = 600  # a sign-in started at the provider must come back in time
    # HMAC-SHA256 key of the portal's documents (PDF returns and receipts, their QR codes);
    # empty: a built-in development key in development, no documents outside it.
    documents_key: str = ""
    documents_font_dir: str = "/usr/share/fonts/truetype/dejavu"  # Debian fonts-dejavu-core
    portal_dashboard_cache_years: int = 8  # figures of at most this many tax years are cached
    # Statistical disclosure control: a count below this (but above 0) is never shown.
    portal_min_cell: int = 5
    portal_hsts_max_age_s: int = 31536000  # Strict-Transport-Security when cookies are Secure

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_bootstrap or f"{self.broker_host}:{self.broker_port}"

    @property
    def broker_data_path(self) -> Path:
        return self.broker_data_dir or self.run_dir / "kafka"

    @property
    def broker_cache_path(self) -> Path:
        return self.broker_cache_dir or (
            Path.home() / ".cache" / "proactax" / f"kafka-{KAFKA_VERSION}"
        )

    @property
    def kafka_secured(self) -> bool:
        return self.kafka_security_protocol == "SASL_SSL"

    @property
    def kafka_credentials_path(self) -> Path:
        return self.kafka_credentials_file or self.broker_data_path / "credentials.json"

    @property
    def kafka_ca_path(self) -> Path:
        return self.kafka_ca_file or self.broker_data_path / "tls" / "ca.pem"

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{self.run_dir / 'proactax.db'}"

    @property
    def telegram_uses_emulator(self) -> bool:
        return not self.telegram_bot_token

    @property
    def telegram_token(self) -> str:
        """The bot token in use: the configured one, or the emulator's development token."""
        return self.telegram_bot_token or EMULATOR_BOT_TOKEN

    @property
    def telegram_emulator_url(self) -> str:
        return f"http://{self.telegram_emulator_host}:{self.telegram_emulator_port}"

    @property
    def telegram_api_base(self) -> str:
        """The Bot API root (PTB's base_url is this + "/bot")."""
        if self.telegram_api_url:
            return self.telegram_api_url.rstrip("/")
        return self.telegram_emulator_url if self.telegram_uses_emulator else TELEGRAM_API

    @property
    def telegram_send_rate(self) -> float:
        """Messages per second for the whole fleet (paid broadcast raises the limit)."""
        if self.telegram_paid_broadcast:
            return self.telegram_paid_rate_per_s
        return self.telegram_rate_per_s

    @property
    def portal_url(self) -> str:
        return self.portal_public_url.rstrip("/") or f"http://{self.portal_host}:{self.portal_port}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in dataclasses.fields(cls):
            key = PREFIX + field.name.upper()
            if key in env:
                values[field.name] = _convert(key, env[key], str(field.type))
        if "run_dir" not in values:
            values["run_dir"] = _project_root() / ".run"
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    @property
    def completeness_set(self) -> frozenset[str]:
        return frozenset(r.strip() for r in self.completeness_registries.split(",") if r.strip())

    @property
    def tax_years(self) -> range:
        return range(self.tax_year_min, self.tax_year_max + 1)

    def validate(self) -> None:
        if self.partitions < 1:
            raise SettingsError("PROACTAX_PARTITIONS must be at least 1")
        if self.tax_year_min > self.tax_year_max:
            raise SettingsError("PROACTAX_TAX_YEAR_MIN is after PROACTAX_TAX_YEAR_MAX")
        if not re.fullmatch(r"(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])", self.completeness_cutoff):
            raise SettingsError("PROACTAX_COMPLETENESS_CUTOFF must be MM-DD, e.g. 02-01")
        require_instant(self.clock_start, "CLOCK_START", "2027-03-25T09:00:00+05:00")
        validate_notifier(self)
        validate_identity(self)
        validate_rotation(self)
        if self.ingest_max_body_bytes < self.max_event_bytes:
            raise SettingsError("PROACTAX_INGEST_MAX_BODY_BYTES is below PROACTAX_MAX_EVENT_BYTES")
        if self.ingest_key_rate_per_s <= 0 or self.ingest_key_burst < 1:
            raise SettingsError("PROACTAX_INGEST_KEY_RATE_PER_S > 0 and _BURST >= 1, please")
        if self.ingest_key_concurrency < 1 or self.api_key_expiry_days < 1:
            raise SettingsError(
                "PROACTAX_INGEST_KEY_CONCURRENCY and PROACTAX_API_KEY_EXPIRY_DAYS must be >= 1"
            )
        validate_portal(self)
        if self.kafka_security_protocol not in {"SASL_SSL", "PLAINTEXT"}:
            raise SettingsError("PROACTAX_KAFKA_SECURITY_PROTOCOL must be SASL_SSL or PLAINTEXT")
        if bool(self.kafka_username) != bool(self.kafka_password):
            raise SettingsError(
                "PROACTAX_KAFKA_USERNAME and PROACTAX_KAFKA_PASSWORD go together (both or neither)"
            )
        for name in ("broker_port", "controller_port"):
            port = getattr(self, name)
            if not 0 < port < 65536:
                raise SettingsError(f"PROACTAX_{name.upper()} must be a TCP port, got {port}")

    def require_secrets(self, service: str) -> None:
        """Refuse to start ``service`` (a key of SERVICE_SECRETS) with an empty or built-in
        secret unless in development; the message names the variable to set."""
        if self.development:
            return
        for name in SERVICE_SECRETS[service]:
            value = getattr(self, name)
            variable = PREFIX + name.upper()
            if value in BUILT_IN_SECRETS:
                what = "empty" if not value else "a built-in development value"
                raise SettingsError(
                    f"{variable} is {what}: set it to a real secret before starting the "
                    f"{service} (or PROACTAX_DEVELOPMENT=1 on a development machine)"
                )
            if name == "notifier_secret" and len(value) < MIN_SECRET_CHARS:
                raise SettingsError(
                    f"{variable} is shorter than {MIN_SECRET_CHARS} characters: use a random "
                    "key, e.g. `openssl rand -base64 32`"
                )

    def as_env(self) -> dict[str, str]:
        """The environment that reproduces these settings in a child process."""
        env: dict[str, str] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is not None:
                env[PREFIX + field.name.upper()] = str(value)
        return env


def _convert(key: str, raw: str, type_name: str) -> object:
    try:
        if type_name.startswith("int"):
            return int(raw)
        if type_name.startswith("float"):
            return float(raw)
        if type_name.startswith("Path"):
            return Path(raw).expanduser()
        if type_name.startswith("bool"):
            if raw.lower() not in {"1", "0", "true", "false", "yes", "no"}:
                raise ValueError(raw)
            return raw.lower() in {"1", "true", "yes"}
    except ValueError as exc:
        raise SettingsError(f"{key}={raw!r} is not a valid {type_name.split()[0]}") from exc
    return raw


@functools.cache
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use only."""
    return Settings.from_env()
