"""How Bot API errors are read: flood control, blocked chats, and the rest."""

from __future__ import annotations

import datetime as dt

from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

# 400 answers meaning the chat can never get this message (no point retrying).
_GONE = (
    "chat not found",
    "user is deactivated",
    "bot can't initiate conversation",
    "peer_id_invalid",
)


def retry_after_s(error: RetryAfter) -> float:
    """Seconds Telegram asked us to wait (PTB gives an int or a timedelta by version)."""
    value = getattr(error, "_retry_after", None)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value or 1)


def is_unreachable(error: TelegramError) -> bool:
    """The user blocked the bot, deleted the account, or the chat does not exist."""
    if isinstance(error, Forbidden):
        return True
    return isinstance(error, BadRequest) and any(g in str(error).lower() for g in _GONE)
