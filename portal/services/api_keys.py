"""Integrator API keys: issue, list, revoke, authenticate.

A token looks like ``ptx_<key_id>_<secret>``: ``key_id`` (16 hex digits) names the key in
listings and logs, ``secret`` is 256 random bits. Only the token's sha256 is stored; the
token is shown once, when the key is created. A registry may hold several active keys,
so rotation is: create a new key, switch the integrator to it, revoke the old one.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from contracts.topics import REGISTRIES
from core.clock import Clock
from storage.api_keys import ApiKeyRecord, ApiKeyRepository

TOKEN_PREFIX = "ptx"  # noqa: S105 - a public prefix, not a secret
MAX_LABEL_CHARS = 200


class ApiKeyError(ValueError):
    """A key cannot be created as asked (unknown registry, bad expiry, label too long)."""


class KeyStatus(enum.Enum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclasses.dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """What may be shown about a key: never its token or hash."""

    key_id: str
    registry: str
    label: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    status: KeyStatus


@dataclasses.dataclass(frozen=True, slots=True)
class IssuedKey:
    info: ApiKeyInfo
    token: str  # shown once; not recoverable afterwards


@dataclasses.dataclass(frozen=True, slots=True)
class Integrator:
    """An authenticated caller of the ingest API."""

    key_id: str
    registry: str


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def key_id_of(token: str) -> str | None:
    """The key id inside a well-formed token, else None."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[2]:
        return None
    key_id = parts[1]
    if len(key_id) != 16 or any(c not in "0123456789abcdef" for c in key_id):
        return None
    return key_id


DEFAULT_EXPIRY = timedelta(days=365)  # PROACTAX_API_KEY_EXPIRY_DAYS


class ApiKeyService:
    def __init__(
        self,
        repository: ApiKeyRepository,
        clock: Clock,
        default_expiry: timedelta = DEFAULT_EXPIRY,
    ) -> None:
        self._repository = repository
        self._clock = clock
        self._default_expiry = default_expiry

    def create(
        self, registry: str, label: str = "", expires_in: timedelta | None = None
    ) -> IssuedKey:
        if registry not in REGISTRIES:
            raise ApiKeyError(
                f"No registry is called {registry!r}; one of {', '.join(REGISTRIES)}."
            )
        if len(label) > MAX_LABEL_CHARS:
            raise ApiKeyError(f"The label is over {MAX_LABEL_CHARS} characters.")
        if expires_in is not None and expires_in <= timedelta(0):
            raise ApiKeyError("A key must expire in the future.")
        now = self._clock.now()
        key_id = secrets.token_hex(8)
        token = f"{TOKEN_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        record = self._repository.add(
            key_id=key_id,
            registry=registry,
            label=label,
            token_sha256=token_digest(token),
            created_at=now,
            expires_at=now + (expires_in if expires_in is not None else self._default_expiry),
        )
        return IssuedKey(info=self._info(record, now), token=token)

    def list(self, registry: str | None = None) -> list[ApiKeyInfo]:
        now = self._clock.now()
        return [self._info(r, now) for r in self._repository.list_keys(registry)]

    def revoke(self, key_id: str) -> ApiKeyInfo | None:
        """Revoke at once (idempotent); None when there is no such key."""
        now = self._clock.now()
        record = self._repository.revoke(key_id, now)
        return self._info(record, now) if record is not None else None

    def authenticate(self, token: str) -> Integrator | None:
        """The integrator holding an active key with this token, else None."""
        key_id = key_id_of(token)
        if key_id is None:
            return None
        record = self._repository.get(key_id)
        if record is None:
            return None
        if not hmac.compare_digest(token_digest(token), record.token_sha256):
            return None
        if self._status(record, self._clock.now()) is not KeyStatus.ACTIVE:
            return None
        return Integrator(key_id=record.key_id, registry=record.registry)

    @staticmethod
    def _status(record: ApiKeyRecord, now: datetime) -> KeyStatus:
        if record.revoked_at is not None:
            return KeyStatus.REVOKED
        if record.expires_at is not None and record.expires_at <= now:
            return KeyStatus.EXPIRED
        return KeyStatus.ACTIVE

    def _info(self, record: ApiKeyRecord, now: datetime) -> ApiKeyInfo:
        return ApiKeyInfo(
            key_id=record.key_id,
            registry=record.registry,
            label=record.label,
            created_at=record.created_at,
            expires_at=record.expires_at,
            revoked_at=record.revoked_at,
            status=self._status(record, now),
        )
