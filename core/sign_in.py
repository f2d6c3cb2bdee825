"""Sign-in and documents configuration derived from the settings: the real OneID or OpenID
Connect provider when configured, their local stand-ins in development, else off.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.settings import Settings

DOCUMENTS_DEVELOPMENT_KEY = "proactax-documents-development-key"
ONEID_STANDIN_CLIENT_ID = "proactax-portal"
ONEID_STANDIN_SECRET = "oneid-standin-development-secret"  # noqa: S105 (stand-in only)
OIDC_STANDIN_CLIENT_ID = "proactax-portal"
OIDC_STANDIN_SECRET = "oidc-standin-development-secret"  # noqa: S105 (stand-in only)


@dataclasses.dataclass(frozen=True, slots=True)
class OneIdConfig:
    """Where and as whom the portal talks to OneID (the real one or the stand-in)."""

    authorize_url: str
    token_url: str
    identify_url: str
    logout_url: str
    client_id: str
    client_secret: str
    scope: str
    standin: bool


@dataclasses.dataclass(frozen=True, slots=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str
    scope: str
    pinfl_claim: str
    standin: bool


def documents_key(s: Settings) -> bytes | None:
    """The documents' signing key; None: the portal issues no documents."""
    if s.documents_key:
        return s.documents_key.encode()
    return DOCUMENTS_DEVELOPMENT_KEY.encode() if s.development else None


def oneid_config(s: Settings) -> OneIdConfig | None:
    """The real OneID when configured, the stand-in in development, else None (off)."""
    if s.oneid_client_id:
        return OneIdConfig(
            s.oneid_authorize_url,
            s.oneid_token_url,
            s.oneid_identify_url,
            s.oneid_logout_url or s.oneid_token_url,
            s.oneid_client_id,
            s.oneid_client_secret,
            s.oneid_scope or s.oneid_client_id,
            standin=False,
        )
    if not s.development:
        return None
    endpoint = f"http://{s.oneid_standin_host}:{s.oneid_standin_port}/sso/oauth/Authorization.do"
    return OneIdConfig(
        endpoint,
        endpoint,
        endpoint,
        endpoint,
        ONEID_STANDIN_CLIENT_ID,
        ONEID_STANDIN_SECRET,
        ONEID_STANDIN_CLIENT_ID,
        standin=True,
    )


def oidc_config(s: Settings) -> OidcConfig | None:
    if s.oidc_issuer:
        return OidcConfig(
            s.oidc_issuer.rstrip("/"),
            s.oidc_client_id,
            s.oidc_client_secret,
            s.oidc_scope,
            s.oidc_pinfl_claim,
            standin=False,
        )
    if not s.development:
        return None
    return OidcConfig(
        f"http://{s.oidc_standin_host}:{s.oidc_standin_port}",
        OIDC_STANDIN_CLIENT_ID,
        OIDC_STANDIN_SECRET,
        "openid",
        "pinfl",
        standin=True,
    )
