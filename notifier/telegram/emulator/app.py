"""The emulator's HTTP side (aiohttp): the Bot API, the control API and the web page.

Bot API: ``/bot<token>/<method>`` with parameters as query string, form or JSON, as
Telegram accepts them (python-telegram-bot sends a form whose non-string values are JSON).
Control API (JSON, for tests, the bench and the page)::

    POST /control/users                     {"first_name", "phone"?, "user_id"?}
    POST /control/users/{id}/start          {"payload"?}
    POST /control/users/{id}/text           {"text"}
    POST /control/users/{id}/contact        {"phone"?, "contact_user_id"?}
    POST /control/users/{id}/press          {"message_id", "button"? | "callback_data"?}
    POST /control/users/{id}/blocked        {"blocked": true|false}   (the 403 mode)
    GET  /control/chats/{id}/messages       every message of the chat, bot and user
    GET  /control/callbacks/{query_id}      how the bot answered a button press
    GET  /control/stats                     counters, limits, webhook, pending updates
    POST /control/limits                    {"global_rate"?, "paid_rate"?, "per_chat_rate"?,
                                             "per_chat_burst"?}
    POST /control/reset
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import jinja2
from aiohttp import web

from notifier.telegram.emulator.state import ApiError, Emulator

log = logging.getLogger(__name__)

STATE: web.AppKey[Emulator] = web.AppKey("state", Emulator)
INT_FIELDS = frozenset(
    {"chat_id", "message_id", "offset", "limit", "timeout", "max_connections", "user_id"}
)
BOOL_FIELDS = frozenset(
    {
        "show_alert",
        "allow_paid_broadcast",
        "drop_pending_updates",
        "disable_notification",
        "protect_content",
    }
)
JSON_FIELDS = frozenset(
    {"reply_markup", "allowed_updates", "entities", "link_preview_options", "reply_parameters"}
)
WEBHOOK_RETRY_S = 1.0


def _typed(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if name in INT_FIELDS:
        try:
            return int(value)
        except ValueError:
            return value
    if name in BOOL_FIELDS:
        return value.lower() in {"true", "1"}
    if name in JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            raise ApiError(400, f"Bad Request: can't parse {name}") from None
    return value


async def _params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        ctype = request.content_type
        if ctype == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                params.update(body)
        elif ctype == "application/x-www-form-urlencoded":
            params.update(parse_qsl((await request.read()).decode("utf-8"), keep_blank_values=True))
        elif ctype.startswith("multipart/"):
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return {name: _typed(name, value) for name, value in params.items()}


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(error: ApiError) -> web.Response:
    return web.json_response(error.body(), status=error.code)


async def bot_api(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if request.match_info["token"] != state.token:
        return web.json_response(
            {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
        )
    method = request.match_info["method"]
    try:
        params = await _params(request)
        handler = METHODS.get(method.lower())
        if handler is None:
            raise ApiError(404, "Not Found: method not found")
        return _ok(await handler(state, params))
    except ApiError as error:
        return _error(error)


async def _get_me(state: Emulator, params: dict[str, Any]) -> Any:
    return state.bot_user


async def _get_updates(state: Emulator, params: dict[str, Any]) -> Any:
    if state.webhook is not None:
        raise ApiError(
            409,
            "Conflict: can't use getUpdates method while webhook is active; "
            "use deleteWebhook to delete the webhook first",
        )
    offset = int(params.get("offset") or 0)
    limit = int(params.get("limit") or 100)
    timeout = min(float(params.get("timeout") or 0), 50.0)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        updates = state.take_updates(offset, limit)
        remaining = deadline - loop.time()
        if updates or remaining <= 0 or state.webhook is not None:
            return updates
        state.long_polls_waiting += 1
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.changed.wait(), remaining)
        finally:
            state.long_polls_waiting -= 1


async def _send_message(state: Emulator, params: dict[str, Any]) -> Any:
    return state.send_message(params)


async def _edit_text(state: Emulator, params: dict[str, Any]) -> Any:
    return state.edit_text(params)


async def _edit_markup(state: Emulator, params: dict[str, Any]) -> Any:
    return state.edit_markup(params)


async def _answer_callback(state: Emulator, params: dict[str, Any]) -> Any:
    return state.answer_callback(params)


async def _set_webhook(state: Emulator, params: dict[str, Any]) -> Any:
    url = str(params.get("url") or "")
    if not url:
        state.webhook = None
        return True
    if not url.startswith(("http://", "https://")):
        raise ApiError(400, "Bad Request: bad webhook: invalid URL")
    if params.get("drop_pending_updates"):
        state.updates.clear()
    state.webhook = {
        "url": url,
        "secret_token": params.get("secret_token") or "",
        "allowed_updates": params.get("allowed_updates") or [],
    }
    state.touch()
    return True


async def _delete_webhook(state: Emulator, params: dict[str, Any]) -> Any:
    state.webhook = None
    if params.get("drop_pending_updates"):
        state.updates.clear()
    state.touch()
    return True


async def _get_webhook_info(state: Emulator, params: dict[str, Any]) -> Any:
    return {
        "url": (state.webhook or {}).get("url", ""),
        "has_custom_certificate": False,
        "pending_update_count": len(state.updates),
    }


async def _accept(state: Emulator, params: dict[str, Any]) -> Any:
    return True


METHODS = {
    "getme": _get_me,
    "getupdates": _get_updates,
    "sendmessage": _send_message,
    "editmessagetext": _edit_text,
    "editmessagereplymarkup": _edit_markup,
    "answercallbackquery": _answer_callback,
    "setwebhook": _set_webhook,
    "deletewebhook": _delete_webhook,
    "getwebhookinfo": _get_webhook_info,
    "setmycommands": _accept,
    "close": _accept,
    "logout": _accept,
}


async def deliver_webhook(app: web.Application) -> None:
    """Post pending updates to the webhook, oldest first, one at a time (in order)."""
    state = app[STATE]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        while True:
            hook = state.webhook
            if hook is None or not state.updates:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(state.changed.wait(), 1.0)
                continue
            update = state.updates[0]
            headers = {}
            if hook["secret_token"]:
                headers["X-Telegram-Bot-Api-Secret-Token"] = hook["secret_token"]
            try:
                async with session.post(hook["url"], json=update, headers=headers) as response:
                    delivered = 200 <= response.status < 300
                    if not delivered:
                        state.stats["webhook_refused"] += 1
            except (aiohttp.ClientError, TimeoutError):
                delivered = False
                state.stats["webhook_unreachable"] += 1
            if delivered:
                state.stats["webhook_delivered"] += 1
                if state.updates and state.updates[0]["update_id"] == update["update_id"]:
                    state.updates.pop(0)
            else:
                await asyncio.sleep(WEBHOOK_RETRY_S)


# ---------------------------------------------------------------------- control API


async def _json(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    if request.content_type == "application/json":
        body = await request.json()
        return body if isinstance(body, dict) else {}
    form = await request.post()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _control(handler: Any) -> Any:
    async def wrapped(request: web.Request) -> web.Response:
        try:
            return web.json_response(await handler(request, request.app[STATE]))
        except ApiError as error:
            return web.json_response({"error": error.description}, status=error.code)
        except (KeyError, ValueError, TypeError) as error:
            return web.json_response({"error": f"bad request: {error}"}, status=400)

    return wrapped


def _uid(request: web.Request) -> int:
    return int(request.match_info["user_id"])


async def c_add_user(request: web.Request, state: Emulator) -> Any:
    body = await _json(request)
    user_id = body.get("user_id")
    return state.add_user(
        str(body.get("first_name") or "Taxpayer"),
        body.get("phone") or None,
        int(user_id) if user_id not in (None, "") else None,
        body.get("language_code") or None,
    )


async def c_start(request: web.Request, state: Emulator) -> Any:
    body = await _json(request)
    return {"update_id": state.start(_uid(request), str(body.get("payload") or ""))}


async def c_text(request: web.Request, state: Emulator) -> Any:
    body = await _json(request)
    return {"update_id": state.send_text(_uid(request), str(body["text"]))}


async def c_contact(request: web.Request, state: Emulator) -> Any:
    body = await _json(request)
    other = body.get("contact_user_id")
    return {
        "update_id": state.share_contact(
            _uid(request),
            body.get("phone") or None,
            int(other) if other not in (None, "") else None,
        )
    }


async def c_press(request: web.Request, state: Emulator) -> Any:
    body = await _json(request)
    update_id, query_id = state.press(
        _uid(request),
        int(body["message_id"]),
        button_text=body.get("button"),
        callback_data=body.get("callback_data"),
    )
    return {"update_id": update_id, "callback_query_id": query_id}


async def c_blocked(request: web.Request, state: Emulator) -> Any:
    body = await _json(request)
    blocked = body.get("blocked", True)
    state.set_blocked(_uid(request), blocked in (True, "true", "1", "on"))
    return {"blocked": _uid(request) in state.blocked}


async def c_messages(request: web.Request, state: Emulator) -> Any:
    return state.history(int(request.match_info["chat_id"]))


async def c_callback(request: web.Request, state: Emulator) -> Any:
    query = state.callbacks.get(request.match_info["query_id"])
    if query is None:
        raise ApiError(404, "no such callback query")
    return query


async def c_stats(request: web.Request, state: Emulator) -> Any:
    return state.summary()


async def c_limits(request: web.Request, state: Emulator) -> Any:
    body = await _json(request)
    state.set_limits(**{k: float(v) for k, v in body.items()})
    return state.limits.as_dict()


async def c_reset(request: web.Request, state: Emulator) -> Any:
    state.reset()
    return {"reset": True}


# ---------------------------------------------------------------------- the web page

_pages = jinja2.Environment(
    loader=jinja2.PackageLoader("notifier.telegram.emulator", "templates"),
    autoescape=True,
)


def _page(name: str, **params: Any) -> web.Response:
    return web.Response(text=_pages.get_template(name).render(**params), content_type="text/html")


async def p_index(request: web.Request) -> web.Response:
    state = request.app[STATE]
    users = [{**u, "phone": state.phones.get(uid, "")} for uid, u in state.users.items()]
    return _page("index.html", users=users, bot=state.bot_user, summary=state.summary())


async def p_new_user(request: web.Request) -> web.Response:
    body = await _json(request)
    user = request.app[STATE].add_user(
        str(body.get("first_name") or "Taxpayer"),
        body.get("phone") or None,
        language_code=body.get("language_code") or None,
    )
    raise web.HTTPSeeOther(f"/chat/{user['id']}")


async def p_deep_link(request: web.Request) -> web.Response:
    """``/start?payload=<token>[&name=..&phone=..]``: what t.me/<bot>?start=<token> does."""
    state = request.app[STATE]
    user = state.add_user(
        request.query.get("name") or "Taxpayer",
        request.query.get("phone"),
        language_code=request.query.get("lang"),
    )
    state.start(user["id"], request.query.get("payload", ""))
    raise web.HTTPSeeOther(f"/chat/{user['id']}")


def _chat_view(state: Emulator, user_id: int) -> dict[str, Any]:
    state.user(user_id)
    messages = []
    for message in state.history(user_id):
        messages.append(
            {
                "id": message["message_id"],
                "mine": message["from"]["id"] == user_id,
                "text": message.get("text")
                or ("📱 " + message["contact"]["phone_number"] if "contact" in message else ""),
                "edited": "edit_date" in message,
                "buttons": (message.get("reply_markup") or {}).get("inline_keyboard", []),
            }
        )
    last_keyboard = next(
        (
            m.get("_reply_keyboard")
            for m in reversed(state.history(user_id))
            if m.get("_reply_keyboard")
        ),
        None,
    )
    wants_contact = any(
        b.get("request_contact")
        for row in (last_keyboard or {}).get("keyboard", [])
        for b in row
        if isinstance(b, dict)
    )
    return {
        "user": state.users[user_id],
        "phone": state.phones.get(user_id, ""),
        "blocked": user_id in state.blocked,
        "messages": messages,
        "wants_contact": wants_contact,
        "bot": state.bot_user,
    }


async def p_chat(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        return _page("chat.html", **_chat_view(state, _uid(request)))
    except ApiError:
        raise web.HTTPNotFound() from None


async def p_chat_log(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        return _page("chat_log.html", **_chat_view(state, _uid(request)))
    except ApiError:
        raise web.HTTPNotFound() from None


async def p_chat_action(request: web.Request) -> web.Response:
    state = request.app[STATE]
    user_id = _uid(request)
    body = await _json(request)
    action = request.match_info["action"]
    try:
        if action == "text" and str(body.get("text") or "").strip():
            state.send_text(user_id, str(body["text"]))
        elif action == "start":
            state.start(user_id, str(body.get("payload") or ""))
        elif action == "contact":
            other = body.get("contact_user_id")
            state.share_contact(user_id, body.get("phone") or None, int(other) if other else None)
        elif action == "press":
            state.press(user_id, int(body["message_id"]), callback_data=str(body["data"]))
        elif action == "block":
            state.set_blocked(user_id, user_id not in state.blocked)
    except (ApiError, KeyError, ValueError) as error:
        raise web.HTTPBadRequest(text=str(error)) from None
    raise web.HTTPSeeOther(f"/chat/{user_id}")


# ---------------------------------------------------------------------- assembly


def create_app(state: Emulator) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    app[STATE] = state
    route = app.router
    route.add_route("*", "/bot{token}/{method}", bot_api)
    route.add_post("/control/users", _control(c_add_user))
    route.add_post("/control/users/{user_id:\\d+}/start", _control(c_start))
    route.add_post("/control/users/{user_id:\\d+}/text", _control(c_text))
    route.add_post("/control/users/{user_id:\\d+}/contact", _control(c_contact))
    route.add_post("/control/users/{user_id:\\d+}/press", _control(c_press))
    route.add_post("/control/users/{user_id:\\d+}/blocked", _control(c_blocked))
    route.add_get("/control/chats/{chat_id:-?\\d+}/messages", _control(c_messages))
    route.add_get("/control/callbacks/{query_id}", _control(c_callback))
    route.add_get("/control/stats", _control(c_stats))
    route.add_post("/control/limits", _control(c_limits))
    route.add_post("/control/reset", _control(c_reset))
    route.add_get("/", p_index)
    route.add_post("/users", p_new_user)
    route.add_get("/start", p_deep_link)
    route.add_get("/chat/{user_id:\\d+}", p_chat)
    route.add_get("/chat/{user_id:\\d+}/log", p_chat_log)
    route.add_post("/chat/{user_id:\\d+}/{action}", p_chat_action)

    async def webhook_task(app: web.Application) -> Any:
        task = asyncio.create_task(deliver_webhook(app))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(webhook_task)
    return app


async def serve(state: Emulator, host: str, port: int) -> web.AppRunner:
    """Start serving (returns the runner; ``await runner.cleanup()`` stops it)."""
    runner = web.AppRunner(create_app(state), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
