"""Tokens and codes: deep-link tokens and button tokens (random, stored as sha256),
portal sign-in codes (6 digits, stored as an HMAC), and the verification code every
message carries so a taxpayer can check in the portal inbox that it came from us."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
from datetime import datetime

# Crockford's base32: no I, L, O, U (nothing to misread when typing a code).
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclasses.dataclass(frozen=True)
class Keyring:
    """The notifier's HMAC keys: ``current`` makes every new code; ``previous`` (the key
    before a rotation) is still accepted until ``previous_until``."""

    current: bytes
    previous: bytes | None = None
    previous_until: datetime | None = None

    def accepted(self, now: datetime) -> tuple[bytes, ...]:
        """The keys a code may have been made with at ``now``: the current one first."""
        if self.previous is not None and self.previous_until and now < self.previous_until:
            return (self.current, self.previous)
        return (self.current,)


def new_token(nbytes: int = 24) -> str:
    """A URL-safe random token (``A-Z a-z 0-9 _ -``), fit for a Telegram deep link."""
    return secrets.token_urlsafe(nbytes)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def verification_code(secret: bytes, pinfl: str, notice_id: str) -> str:
    """``XXXX-XXXX``: derived from the notice and the taxpayer, shown in the message and
    in the portal inbox next to it (a phishing message cannot know it)."""
    digest = hmac.new(secret, f"verify|{pinfl}|{notice_id}".encode(), hashlib.sha256).digest()
    number = int.from_bytes(digest[:5], "big")  # 40 bits = 8 base32 characters
    chars = "".join(ALPHABET[(number >> (5 * i)) & 31] for i in reversed(range(8)))
    return f"{chars[:4]}-{chars[4:]}"


def normalise_code(text: str) -> str:
    """What a person typed, read as a verification code (case, spaces and 0/O mix-ups)."""
    cleaned = text.strip().upper().replace(" ", "").replace("-", "")
    cleaned = cleaned.translate(str.maketrans("OIL", "011"))
    return f"{cleaned[:4]}-{cleaned[4:]}" if len(cleaned) == 8 else cleaned


def new_sign_in_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


def sign_in_code_hash(secret: bytes, pinfl: str, code: str) -> str:
    return hmac.new(secret, f"sign-in|{pinfl}|{code}".encode(), hashlib.sha256).hexdigest()
