"""The identity-provider port: what the portal's sign-in routes need from a provider.

1. ``begin()`` makes a fresh ``state`` (and ``nonce`` and PKCE verifier where the provider
   takes them) and the URL to send the browser to;
2. the provider sends the browser back with ``code`` and ``state``; the route checks the
   state against the sign-in under way in this browser session (single use);
3. ``complete()`` exchanges the code once, server-side, and returns who signed in;
4. ``log_out()`` ends the provider's session, when the provider has one.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol


@dataclasses.dataclass(frozen=True)
class Begun:
    url: str
    state: str
    nonce: str = ""
    code_verifier: str = ""


@dataclasses.dataclass(frozen=True)
class Identity:
    pinfl: str
    legal_entity: bool  # a company representative, not a personal-income-tax taxpayer
    access_token: str = ""  # kept only to end the provider's session at sign-out
    expires_in_s: int = 0


class SignInFailed(Exception):
    """The provider refused the code, or its answer did not hold up (logged, not shown)."""


class IdentityProvider(Protocol):
    name: str  # "oneid" | "oidc"
    standin: bool

    async def begin(self) -> Begun: ...

    async def complete(self, code: str, nonce: str, code_verifier: str) -> Identity: ...

    async def log_out(self, access_token: str) -> None: ...

    async def aclose(self) -> None: ...
