"""The API-key service: tokens shown once and stored hashed, rotation, revocation, expiry."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from core.clock import FixedClock
from portal.services.api_keys import ApiKeyError, ApiKeyService, KeyStatus, key_id_of
from storage.api_keys import ApiKeyRepository


def test_a_token_is_shown_once_and_only_its_hash_is_stored(keys: ApiKeyService) -> None:
    issued = keys.create("payroll", label="gateway")
    assert issued.token.startswith(f"ptx_{issued.info.key_id}_")
    assert len(issued.token) > 40
    stored = keys._repository.get(issued.info.key_id)  # type: ignore[attr-defined]
    assert stored is not None
    assert stored.token_sha256 == hashlib.sha256(issued.token.encode()).hexdigest()
    assert issued.token not in repr(keys.list())


def test_authenticate_names_the_key_and_its_registry(keys: ApiKeyService) -> None:
    issued = keys.create("rental")
    caller = keys.authenticate(issued.token)
    assert caller is not None
    assert (caller.key_id, caller.registry) == (issued.info.key_id, "rental")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # wrong secret
        lambda t: t.replace("ptx_", "xyz_"),  # wrong prefix
        lambda t: "ptx_0000000000000000_" + t.split("_", 2)[2],  # unknown key id
        lambda t: "ptx_",
        lambda t: "",
        lambda t: "not a token at all",
    ],
)
def test_a_wrong_token_is_refused(keys: ApiKeyService, mangle: object) -> None:
    token = keys.create("payroll").token
    assert keys.authenticate(mangle(token)) is None  # type: ignore[operator]


def test_rotation_two_active_keys_then_the_old_one_revoked(keys: ApiKeyService) -> None:
    old = keys.create("payroll", label="2026")
    new = keys.create("payroll", label="2027")
    assert keys.authenticate(old.token) and keys.authenticate(new.token)
    revoked = keys.revoke(old.info.key_id)
    assert revoked is not None and revoked.status is KeyStatus.REVOKED
    assert keys.authenticate(old.token) is None
    assert keys.authenticate(new.token) is not None
    statuses = {k.label: k.status for k in keys.list("payroll")}
    assert statuses == {"2026": KeyStatus.REVOKED, "2027": KeyStatus.ACTIVE}


def test_revoking_twice_keeps_the_first_time_and_unknown_keys_are_none(
    keys: ApiKeyService, clock: FixedClock
) -> None:
    issued = keys.create("dividend")
    first = keys.revoke(issued.info.key_id)
    clock.advance(timedelta(hours=1))
    second = keys.revoke(issued.info.key_id)
    assert first is not None and second is not None
    assert second.revoked_at == first.revoked_at
    assert keys.revoke("0123456789abcdef") is None


def test_a_key_expires(keys: ApiKeyService, clock: FixedClock) -> None:
    issued = keys.create("deduction", expires_in=timedelta(days=30))
    assert issued.info.expires_at == clock.now() + timedelta(days=30)
    clock.advance(timedelta(days=30) - timedelta(seconds=1))
    assert keys.authenticate(issued.token) is not None
    clock.advance(timedelta(seconds=1))
    assert keys.authenticate(issued.token) is None
    assert keys.list()[0].status is KeyStatus.EXPIRED


def test_list_filters_by_registry(keys: ApiKeyService) -> None:
    keys.create("payroll")
    keys.create("rental")
    assert [k.registry for k in keys.list("rental")] == ["rental"]
    assert sorted(k.registry for k in keys.list()) == ["payroll", "rental"]


@pytest.mark.parametrize(
    ("registry", "label", "expires_in", "message"),
    [
        ("payrol", "", None, "No registry"),
        ("payroll", "x" * 201, None, "label"),
        ("payroll", "", timedelta(0), "future"),
    ],
)
def test_bad_requests_for_a_key_are_refused(
    keys: ApiKeyService, registry: str, label: str, expires_in: timedelta | None, message: str
) -> None:
    with pytest.raises(ApiKeyError, match=message):
        keys.create(registry, label=label, expires_in=expires_in)


def test_key_id_of_accepts_only_the_token_layout() -> None:
    assert key_id_of("ptx_0123456789abcdef_secret_with_underscores") == "0123456789abcdef"
    assert key_id_of("ptx_0123456789ABCDEF_secret") is None
    assert key_id_of("ptx_0123456789abcdef_") is None


def test_times_come_back_aware_in_utc(keys: ApiKeyService, settings: object) -> None:
    issued = keys.create("population", expires_in=timedelta(days=1))
    repository: ApiKeyRepository = keys._repository  # type: ignore[attr-defined]
    stored = repository.get(issued.info.key_id)
    assert stored is not None
    assert stored.created_at.tzinfo is not None and stored.expires_at is not None
    assert stored.expires_at.utcoffset() == timedelta(0)
