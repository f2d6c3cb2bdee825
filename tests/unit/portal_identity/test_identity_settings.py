"""Settings of the sign-in providers: all or nothing, https only, stand-ins only in
development, the stand-ins' built-in secrets refused outside development."""

from __future__ import annotations

import pytest

from core.settings import Settings, SettingsError
from core.sign_in import ONEID_STANDIN_SECRET, oidc_config, oneid_config

ONEID = {
    "PROACTAX_ONEID_AUTHORIZE_URL": "https://sso.egov.uz/sso/oauth/Authorization.do",
    "PROACTAX_ONEID_TOKEN_URL": "https://sso.egov.uz/sso/oauth/Authorization.do",
    "PROACTAX_ONEID_IDENTIFY_URL": "https://sso.egov.uz/sso/oauth/Authorization.do",
    "PROACTAX_ONEID_CLIENT_ID": "stc_proactax",
    "PROACTAX_ONEID_CLIENT_SECRET": "issued-by-oneid",
}
OIDC = {
    "PROACTAX_OIDC_ISSUER": "https://id.example.uz",
    "PROACTAX_OIDC_CLIENT_ID": "proactax",
    "PROACTAX_OIDC_CLIENT_SECRET": "issued",
}


def test_nothing_configured_no_provider_outside_development() -> None:
    settings = Settings.from_env({})
    assert oneid_config(settings) is None and oidc_config(settings) is None


def test_development_uses_the_stand_ins() -> None:
    settings = Settings.from_env({"PROACTAX_DEVELOPMENT": "1"})
    oneid, oidc = oneid_config(settings), oidc_config(settings)
    assert oneid is not None and oneid.standin and oneid.authorize_url.startswith("http://127.")
    assert oidc is not None and oidc.standin


def test_the_real_providers_when_configured() -> None:
    settings = Settings.from_env({**ONEID, **OIDC})
    oneid, oidc = oneid_config(settings), oidc_config(settings)
    assert oneid is not None and not oneid.standin and oneid.scope == "stc_proactax"
    assert oneid.logout_url == ONEID["PROACTAX_ONEID_TOKEN_URL"]
    assert oidc is not None and not oidc.standin


@pytest.mark.parametrize("missing", sorted(ONEID))
def test_half_configured_oneid_is_refused(missing: str) -> None:
    env = {k: v for k, v in ONEID.items() if k != missing}
    with pytest.raises(SettingsError, match=missing):
        Settings.from_env(env)


@pytest.mark.parametrize("missing", sorted(OIDC))
def test_half_configured_oidc_is_refused(missing: str) -> None:
    env = {k: v for k, v in OIDC.items() if k != missing}
    with pytest.raises(SettingsError, match=missing):
        Settings.from_env(env)


def test_plain_http_and_the_stand_in_secret_are_refused() -> None:
    with pytest.raises(SettingsError, match="https"):
        Settings.from_env({**OIDC, "PROACTAX_OIDC_ISSUER": "http://id.example.uz"})
    stand_in_secret = {**ONEID, "PROACTAX_ONEID_CLIENT_SECRET": ONEID_STANDIN_SECRET}
    with pytest.raises(SettingsError, match="development"):
        Settings.from_env(stand_in_secret)
    Settings.from_env({**stand_in_secret, "PROACTAX_DEVELOPMENT": "1"})
