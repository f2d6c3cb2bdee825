"""Passwords, session tokens, CSRF and throttles of the web pages (framework-free).

- Staff passwords: scrypt (n=2**15, r=8, p=1, 16-byte salt), stored as
  ``scrypt$<n>$<r>$<p>$<salt>$<hash>`` (base64); checked in constant time.
- Sessions: the cookie carries 256 random bits; the database keeps their sha256. A new
  session is made at every sign-in (the pre-sign-in one is deleted: no fixation).
- CSRF: a per-session synchronizer token in every form, compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_MAXMEM = 64 * 1024 * 1024
MIN_PASSWORD_CHARS = 12
PINFL_RE = re.compile(r"\d{14}")
USERNAME_RE = re.compile(r"[a-z0-9._-]{2,64}")


class WebError(Exception):
    """Base of the errors the pages turn into HTML answers."""

    status_code = 400


class BadRequest(WebError):
    """A query parameter the page cannot use: 400, naming the field."""

    status_code = 400

    def __init__(self, field: str) -> None:
        super().__init__(f"{field}: not a value this page takes")
        self.field = field


class NotFound(WebError):
    """No such object for this user (someone else's objects are not found either)."""

    status_code = 404


class Forbidden(WebError):
    """Signed in, but not allowed here (a taxpayer on a staff page, a bad CSRF token)."""

    status_code = 403


class SignInRequired(WebError):
    """Not signed in: the pages redirect to the right sign-in form."""

    status_code = 303

    def __init__(self, staff: bool = False) -> None:
        super().__init__("sign in first")
        self.staff = staff


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, n: int = SCRYPT_N) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P, maxmem=SCRYPT_MAXMEM
    )
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(stored: str, password: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=SCRYPT_MAXMEM,
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


# A hash of a random password: checked when the username is unknown, so a wrong username
# takes as long as a wrong password (no account enumeration by timing).
_DUMMY: list[str] = []


def dummy_hash() -> str:
    if not _DUMMY:
        _DUMMY.append(hash_password(secrets.token_urlsafe(16)))
    return _DUMMY[0]


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def csrf_ok(expected: str, given: object) -> bool:
    return (
        isinstance(given, str)
        and bool(given)
        and hmac.compare_digest(expected.encode(), given.encode())
    )


def valid_pinfl(text: str) -> bool:
    return bool(PINFL_RE.fullmatch(text))


def safe_next(target: str | None, default: str = "/cabinet") -> str:
    """Only a local path may follow a sign-in or a language switch (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def small_number(text: str) -> int | None:
    """A number from a query or a form: 1-9 ASCII digits, else None. ``str.isdigit`` also
    takes '²' (which int() refuses) and any length (which the database refuses)."""
    if 1 <= len(text) <= 9 and text.isascii() and text.isdigit():
        return int(text)
    return None
