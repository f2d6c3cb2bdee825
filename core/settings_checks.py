"""The settings' cross-field checks (``Settings.validate`` calls them), one per area, and
the error every refusal raises.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from typing import TYPE_CHECKING

from core.sign_in import DOCUMENTS_DEVELOPMENT_KEY, OIDC_STANDIN_SECRET, ONEID_STANDIN_SECRET

if TYPE_CHECKING:
    from core.settings import Settings


class SettingsError(ValueError):
    """An environment variable holds a value the service cannot use."""


def validate_identity(s: Settings) -> None:
    oneid = {
        "ONEID_AUTHORIZE_URL": s.oneid_authorize_url,
        "ONEID_TOKEN_URL": s.oneid_token_url,
        "ONEID_IDENTIFY_URL": s.oneid_identify_url,
        "ONEID_CLIENT_ID": s.oneid_client_id,
        "ONEID_CLIENT_SECRET": s.oneid_client_secret,
    }
    oidc = {
        "OIDC_ISSUER": s.oidc_issuer,
        "OIDC_CLIENT_ID": s.oidc_client_id,
        "OIDC_CLIENT_SECRET": s.oidc_client_secret,
    }
    for group, values in (("OneID", oneid), ("OpenID Connect", oidc)):
        given = [k for k, v in values.items() if v]
        if given and len(given) < len(values):
            missing = ", ".join(f"PROACTAX_{k}" for k, v in values.items() if not v)
            raise SettingsError(f"{group} sign-in is half configured: set {missing} too")
        if given:
            for key, value in values.items():
                if key.endswith(("_URL", "_ISSUER")) and not value.startswith("https://"):
                    raise SettingsError(f"PROACTAX_{key} must be an https:// URL")
            secret = values[next(k for k in values if k.endswith("CLIENT_SECRET"))]
            if secret in (ONEID_STANDIN_SECRET, OIDC_STANDIN_SECRET) and not s.development:
                raise SettingsError(
                    f"the built-in stand-in client secret is refused for {group} outside "
                    "development (PROACTAX_DEVELOPMENT)"
                )
    if s.documents_key == DOCUMENTS_DEVELOPMENT_KEY and not s.development:
        raise SettingsError("PROACTAX_DOCUMENTS_KEY: the development key is refused here")
    if s.documents_key and len(s.documents_key) < 32:
        raise SettingsError("PROACTAX_DOCUMENTS_KEY must be at least 32 characters")
    if s.oneid_logout_url and not s.oneid_logout_url.startswith("https://"):
        raise SettingsError("PROACTAX_ONEID_LOGOUT_URL must be an https:// URL")


def validate_portal(s: Settings) -> None:
    for part in s.portal_trusted_proxies.split(","):
        if part.strip():
            try:
                ipaddress.ip_network(part.strip(), strict=False)
            except ValueError:
                raise SettingsError(
                    f"PROACTAX_PORTAL_TRUSTED_PROXIES: {part.strip()!r} is not an address or "
                    "a network (e.g. 10.0.0.0/8,::1)"
                ) from None
    if s.portal_min_cell < 1:
        raise SettingsError("PROACTAX_PORTAL_MIN_CELL must be at least 1")
    if s.portal_dashboard_cache_years < 1:
        raise SettingsError("PROACTAX_PORTAL_DASHBOARD_CACHE_YEARS must be at least 1")
    if not 0 < s.portal_throttle_delay_s <= s.portal_throttle_max_delay_s:
        raise SettingsError(
            "PROACTAX_PORTAL_THROTTLE_DELAY_S must be above 0 and at most "
            "PROACTAX_PORTAL_THROTTLE_MAX_DELAY_S"
        )
    if s.portal_throttle_window_s < s.portal_throttle_max_delay_s:
        raise SettingsError(
            "PROACTAX_PORTAL_THROTTLE_WINDOW_S must be at least "
            "PROACTAX_PORTAL_THROTTLE_MAX_DELAY_S (else a key is forgotten before its wait ends)"
        )


def portal_start_problems(s: Settings) -> list[str]:
    """Why the portal must not start with these settings (outside development mode)."""
    if s.development:
        return []
    problems = []
    if not s.portal_metrics_token:
        problems.append(
            "PROACTAX_PORTAL_METRICS_TOKEN is empty: /metrics needs a bearer token outside "
            "development (PROACTAX_DEVELOPMENT=1)"
        )
    return problems


def validate_notifier(s: Settings) -> None:
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", s.quiet_hours):
        raise SettingsError("PROACTAX_QUIET_HOURS must be HH:MM-HH:MM, e.g. 21:00-09:00")
    if not 0 < s.telegram_rate_per_s <= 1000 or not 0 < s.telegram_paid_rate_per_s <= 1000:
        raise SettingsError("PROACTAX_TELEGRAM_*RATE_PER_S must be above 0 and at most 1000")
    if s.telegram_per_chat_interval_s < 0:
        raise SettingsError("PROACTAX_TELEGRAM_PER_CHAT_INTERVAL_S must not be negative")
    if s.telegram_webhook_url and not s.telegram_webhook_secret:
        raise SettingsError(
            "PROACTAX_TELEGRAM_WEBHOOK_SECRET is required with PROACTAX_TELEGRAM_WEBHOOK_URL"
        )
    if s.telegram_webhook_secret and not re.fullmatch(
        r"[A-Za-z0-9_-]{1,256}", s.telegram_webhook_secret
    ):
        raise SettingsError("PROACTAX_TELEGRAM_WEBHOOK_SECRET: 1-256 of A-Z a-z 0-9 _ -")


def validate_rotation(s: Settings) -> None:
    if bool(s.notifier_secret_previous) != bool(s.notifier_secret_previous_until):
        raise SettingsError(
            "PROACTAX_NOTIFIER_SECRET_PREVIOUS and PROACTAX_NOTIFIER_SECRET_PREVIOUS_UNTIL "
            "go together (the old key and the end of its rotation window)"
        )
    require_instant(
        s.notifier_secret_previous_until,
        "NOTIFIER_SECRET_PREVIOUS_UNTIL",
        "2027-03-02T00:00:00+05:00",
    )
    if s.notifier_secret_previous and s.notifier_secret_previous == s.notifier_secret:
        raise SettingsError("PROACTAX_NOTIFIER_SECRET_PREVIOUS equals PROACTAX_NOTIFIER_SECRET")


def require_instant(value: str, name: str, example: str) -> None:
    """``PROACTAX_<name>``, when set, is an RFC 3339 instant with an offset."""
    if not value:
        return
    try:
        if datetime.fromisoformat(value).tzinfo is None:
            raise ValueError
    except ValueError:
        raise SettingsError(
            f"PROACTAX_{name} must be RFC 3339 with an offset, e.g. {example}"
        ) from None
