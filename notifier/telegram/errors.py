"""How Bot API errors are read: flood control, blocked chats, and the rest."""

from __future__ import annotations

import datetime as dt
import warnings

from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

# 400 answers meaning the chat can never get this message (no point retrying).
_GONE = (
    "chat not found",
    "user is deactivated",
    "bot can't initiate conversation",
    "peer_id_invalid",
)


def retry_after_s(error: RetryAfter) -> float:
    """Seconds Telegram asked us to wait (PTB gives an int or a timedelta by version; the
    int form warns of its deprecation, which is no news to us)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value or 1)


def is_unreachable(error: TelegramError) -> bool:
    """The user blocked the bot, deleted the account, or the chat does not exist."""
    if isinstance(error, Forbidden):
        return True
    return isinstance(error, BadRequest) and any(g in str(error).lower() for g in _GONE)
