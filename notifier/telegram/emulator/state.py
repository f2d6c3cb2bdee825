"""The emulator's state: users and their private chats, the bot's messages, pending
updates (long poll or webhook), callback answers, Telegram-like limits and a 403 mode.

Limits are token buckets: a global one per bot (``global_rate`` messages per second,
bursts up to one second's worth), a paid-broadcast one (``paid_rate``, used when a
message says ``allow_paid_broadcast``) and one per chat (``per_chat_rate``, small bursts).
A request over a limit gets 429 with ``retry_after`` (whole seconds, as Telegram says).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import itertools
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

MESSAGE_METHODS = frozenset({"sendMessage", "editMessageText", "editMessageReplyMarkup"})
MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64


class ApiError(Exception):
    """A Bot API error answer: HTTP status = error_code."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


@dataclasses.dataclass
class Bucket:
    rate: float
    burst: float
    tokens: float
    stamp: float

    @classmethod
    def full(cls, rate: float, burst: float, now: float) -> Bucket:
        return cls(rate, burst, burst, now)

    def wait(self, now: float) -> float:
        """Seconds until one token is there (0: now)."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1


@dataclasses.dataclass
class Limits:
    global_rate: float = 30.0
    paid_rate: float = 1000.0
    per_chat_rate: float = 1.0
    per_chat_burst: float = 3.0

    def as_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


class Emulator:
    def __init__(
        self,
        token: str,
        username: str = "proactax_bot",
        limits: Limits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token = token
        self.bot_user = {
            "id": int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": "Soliq",
            "username": username,
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.clock = clock
        self.limits = limits or Limits()
        self.reset()

    def reset(self) -> None:
        now = self.clock()
        self.users: dict[int, dict[str, Any]] = {}
        self.phones: dict[int, str] = {}
        self.blocked: set[int] = set()
        self.chats: dict[int, list[dict[str, Any]]] = collections.defaultdict(list)
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.next_message_id: dict[int, int] = collections.defaultdict(lambda: 1)
        self.updates: list[dict[str, Any]] = []
        self.update_ids = itertools.count(1000)
        self.callback_ids = itertools.count(1)
        self.user_ids = itertools.count(700_000_001)
        self.callbacks: dict[str, dict[str, Any]] = {}
        self.webhook: dict[str, Any] | None = None
        self.stats: collections.Counter[str] = collections.Counter()
        self.sent_times: list[float] = []  # monotonic time of every accepted message
        self.changed = asyncio.Event()
        self.long_polls_waiting = 0  # getUpdates calls parked until an update arrives
        self._global = Bucket.full(self.limits.global_rate, self.limits.global_rate, now)
        self._paid = Bucket.full(self.limits.paid_rate, self.limits.paid_rate, now)
        self._chats: dict[int, Bucket] = {}

    def set_limits(self, **values: float) -> None:
        for name, value in values.items():
            if not hasattr(self.limits, name):
                raise KeyError(name)
            setattr(self.limits, name, float(value))
        now = self.clock()
        self._global = Bucket.full(self.limits.global_rate, self.limits.global_rate, now)
        self._paid = Bucket.full(self.limits.paid_rate, self.limits.paid_rate, now)
        self._chats.clear()

    # ------------------------------------------------------------------ people

    def add_user(
        self,
        first_name: str,
        phone: str | None = None,
        user_id: int | None = None,
        language_code: str | None = None,
    ) -> dict[str, Any]:
        uid = user_id if user_id is not None else next(self.user_ids)
        while user_id is None and uid in self.users:
            uid = next(self.user_ids)
        user: dict[str, Any] = {"id": uid, "is_bot": False, "first_name": first_name[:64] or "User"}
        if language_code:
            user["language_code"] = language_code
        self.users[uid] = user
        if phone:
            self.phones[uid] = phone
        self.touch()
        return {**user, "phone": self.phones.get(uid)}

    def user(self, user_id: int) -> dict[str, Any]:
        try:
            return self.users[user_id]
        except KeyError:
            raise ApiError(404, f"no user {user_id}") from None

    def set_blocked(self, user_id: int, blocked: bool) -> None:
        self.user(user_id)
        (self.blocked.add if blocked else self.blocked.discard)(user_id)
        self.touch()

    # ------------------------------------------------------------------ updates

    def _chat(self, user_id: int) -> dict[str, Any]:
        user = self.user(user_id)
        return {"id": user_id, "type": "private", "first_name": user["first_name"]}

    def _user_message(self, user_id: int, **content: Any) -> dict[str, Any]:
        chat = self._chat(user_id)
        message = {
            "message_id": self._next_message_id(user_id),
            "from": self.users[user_id],
            "chat": chat,
            "date": int(time.time()),
            **content,
        }
        self._store(user_id, message)
        return message

    def push_update(self, update: dict[str, Any]) -> int:
        update_id = next(self.update_ids)
        self.updates.append({"update_id": update_id, **update})
        self.stats["updates"] += 1
        self.touch()
        return update_id

    def send_text(self, user_id: int, text: str) -> int:
        entities = []
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            entities = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        message = self._user_message(
            user_id, text=text, **({"entities": entities} if entities else {})
        )
        if user_id in self.blocked and text.startswith("/start"):
            self.blocked.discard(user_id)  # writing to the bot again unblocks it
        return self.push_update({"message": message})

    def start(self, user_id: int, payload: str = "") -> int:
        return self.send_text(user_id, f"/start {payload}".strip())

    def share_contact(
        self,
        user_id: int,
        phone: str | None = None,
        contact_user_id: int | None = None,
        first_name: str | None = None,
    ) -> int:
        user = self.user(user_id)
        contact: dict[str, Any] = {
            "phone_number": phone or self.phones.get(user_id) or "",
            "first_name": first_name or user["first_name"],
        }
        owner = user_id if contact_user_id is None else contact_user_id
        if owner:
            contact["user_id"] = owner
        message = self._user_message(user_id, contact=contact)
        return self.push_update({"message": message})

    def press(
        self,
        user_id: int,
        message_id: int,
        button_text: str | None = None,
        callback_data: str | None = None,
    ) -> tuple[int, str]:
        """Press a button of a bot message (by its text), or send any callback data."""
        message = self.messages.get((user_id, message_id))
        if message is None or message["from"]["id"] != self.bot_user["id"]:
            raise ApiError(404, "no such bot message in this chat")
        data = callback_data
        if data is None:
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
                for button in row:
                    if button.get("text") == button_text and "callback_data" in button:
                        data = button["callback_data"]
            if data is None:
                raise ApiError(404, f"no button {button_text!r} on message {message_id}")
        query_id = f"{next(self.callback_ids)}{user_id % 100000:05d}"
        self.callbacks[query_id] = {"answered": False, "text": None, "show_alert": False}
        update_id = self.push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self.user(user_id),
                    "message": message,
                    "chat_instance": str(user_id),
                    "data": data,
                }
            }
        )
        return update_id, query_id

    def confirm(self, offset: int) -> None:
        if offset:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]

    def take_updates(self, offset: int, limit: int) -> list[dict[str, Any]]:
        self.confirm(offset)
        return self.updates[: max(1, min(limit, 100))]

    # ------------------------------------------------------------------ bot side

    def _next_message_id(self, chat_id: int) -> int:
        mid = self.next_message_id[chat_id]
        self.next_message_id[chat_id] = mid + 1
        return mid

    def _store(self, chat_id: int, message: dict[str, Any]) -> None:
        self.chats[chat_id].append(message)
        self.messages[(chat_id, message["message_id"])] = message

    def touch(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    def check_limits(self, chat_id: int, paid: bool) -> None:
        now = self.clock()
        bucket = self._paid if paid else self._global
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = Bucket.full(
                self.limits.per_chat_rate, self.limits.per_chat_burst, now
            )
        wait = max(bucket.wait(now), chat.wait(now))
        if wait > 0:
            self.stats["429"] += 1
            retry_after = max(1, math.ceil(wait))
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)
        bucket.take()
        chat.take()
        self.sent_times.append(now)

    def target(self, params: Mapping[str, Any]) -> int:
        try:
            chat_id = int(params.get("chat_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: chat not found") from None
        if chat_id not in self.users:
            raise ApiError(400, "Bad Request: chat not found")
        if chat_id in self.blocked:
            self.stats["403"] += 1
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id

    def send_message(self, params: Mapping[str, Any]) -> dict[str, Any]:
        chat_id = self.target(params)
        text = str(params.get("text") or "")
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        markup = _markup(params.get("reply_markup"))
        self.check_limits(chat_id, bool(params.get("allow_paid_broadcast")))
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "from": self.bot_user,
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            "text": text,
        }
        if markup and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        elif markup:
            message["_reply_keyboard"] = markup  # shown on the web page, not returned
        self._store(chat_id, message)
        self.stats["sendMessage"] += 1
        self.touch()
        return {k: v for k, v in message.items() if not k.startswith("_")}

    def _bot_message(self, params: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        chat_id = self.target(params)
        try:
            message_id = int(params.get("message_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: message to edit not found") from None
        message = self.messages.get((chat_id, message_id))
        if message is None or message["from"]["id"] != self.bot_user["id"]:
            raise ApiError(400, "Bad Request: message to edit not found")
        return chat_id, message

    def edit_text(self, params: Mapping[str, Any]) -> dict[str, Any]:
        chat_id, message = self._bot_message(params)
        text = str(params.get("text") or "")
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        markup = _markup(params.get("reply_markup"))
        if text == message["text"] and markup == message.get("reply_markup"):
            raise ApiError(400, "Bad Request: message is not modified")
        self.check_limits(chat_id, False)
        message["text"] = text
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        message["edit_date"] = int(time.time())
        self.stats["editMessageText"] += 1
        self.touch()
        return message

    def edit_markup(self, params: Mapping[str, Any]) -> dict[str, Any]:
        chat_id, message = self._bot_message(params)
        markup = _markup(params.get("reply_markup"))
        if markup == message.get("reply_markup"):
            raise ApiError(400, "Bad Request: message is not modified")
        self.check_limits(chat_id, False)
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        message["edit_date"] = int(time.time())
        self.stats["editMessageReplyMarkup"] += 1
        self.touch()
        return message

    def answer_callback(self, params: Mapping[str, Any]) -> bool:
        query = self.callbacks.get(str(params.get("callback_query_id")))
        if query is None or query["answered"]:
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        query.update(
            answered=True,
            text=params.get("text"),
            show_alert=bool(params.get("show_alert")),
        )
        self.stats["answerCallbackQuery"] += 1
        self.touch()
        return True

    # ------------------------------------------------------------------ reading

    def history(self, chat_id: int) -> list[dict[str, Any]]:
        return [dict(m) for m in self.chats.get(chat_id, [])]

    def bot_messages(self, chat_id: int) -> list[dict[str, Any]]:
        return [m for m in self.history(chat_id) if m["from"]["id"] == self.bot_user["id"]]

    def summary(self) -> dict[str, Any]:
        return {
            "users": len(self.users),
            "pending_updates": len(self.updates),
            "webhook": (self.webhook or {}).get("url", ""),
            "limits": self.limits.as_dict(),
            "stats": dict(self.stats),
            "messages_accepted": len(self.sent_times),
        }


def _markup(raw: Any) -> dict[str, Any] | None:
    if raw in (None, ""):
        return None
    if not isinstance(raw, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    for row in raw.get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            if not str(button.get("text") or "").strip():
                raise ApiError(
                    400, "Bad Request: text buttons are unallowed in the inline keyboard"
                )
    return raw
