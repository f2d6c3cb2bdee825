"""The python-telegram-bot 22.8 bot: thin handlers that translate an update, call the
conversation service (``notifier/conversation.py``) and show its replies. Every button
press is answered, also when it is refused or the service fails.

``build_application`` gives a PTB ``Application`` with the handlers; ``updater=False``
(``updater(None)``) for bot workers fed from Kafka, ``True`` for polling in development.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import Message, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from core.settings import Settings
from notifier.chat import Reply
from notifier.conversation import BotService
from notifier.telegram.keyboards import Keyboards
from notifier.telegram.ratelimiter import FleetRateLimiter

log = logging.getLogger(__name__)

SERVICE = "service"
KEYBOARDS = "keyboards"


def _service(context: ContextTypes.DEFAULT_TYPE) -> BotService:
    service: BotService = context.application.bot_data[SERVICE]
    return service


async def show(
    context: ContextTypes.DEFAULT_TYPE,
    chat_id: int,
    replies: list[Reply] | tuple[Reply, ...],
    pressed: Message | None = None,
) -> None:
    """Send the replies; an ``edit`` one replaces the pressed message."""
    service = _service(context)
    keyboards: Keyboards = context.application.bot_data[KEYBOARDS]
    for reply in replies:
        lang_label = ""
        if reply.ask_contact:
            lang = await service.language_of(chat_id)
            lang_label = service.prompts.text(lang, "button.share_contact")
        markup = await keyboards.markup(chat_id, reply, lang_label)
        if reply.edit and pressed is not None:
            try:
                await context.bot.edit_message_text(
                    reply.screen.text,
                    chat_id=chat_id,
                    message_id=pressed.message_id,
                    reply_markup=markup,  # type: ignore[arg-type]
                )
                continue
            except BadRequest as error:
                if "not modified" in str(error).lower():
                    continue
                log.info("could not edit a message in chat %s (%s): sending anew", chat_id, error)
        await context.bot.send_message(chat_id, reply.screen.text, reply_markup=markup)


def _ids(update: Update) -> tuple[int, int, str | None]:
    chat = update.effective_chat
    user = update.effective_user
    assert chat is not None and user is not None
    return chat.id, user.id, user.language_code


async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Link by a deep-link token (``/start <token>``) or ask for the phone number."""
    chat_id, user_id, lang = _ids(update)
    payload = context.args[0] if context.args else ""
    await show(context, chat_id, await _service(context).start(chat_id, user_id, payload, lang))


async def on_contact(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Link by a shared contact: only the sender's own, matching the population registry."""
    chat_id, user_id, lang = _ids(update)
    assert update.effective_message is not None and update.effective_message.contact is not None
    contact = update.effective_message.contact
    replies = await _service(context).contact(
        chat_id, user_id, contact.user_id, contact.phone_number, lang
    )
    await show(context, chat_id, replies)


async def on_unlink(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Unlink this chat from the taxpayer."""
    chat_id, _, lang = _ids(update)
    await show(context, chat_id, await _service(context).unlink(chat_id, lang))


async def on_return(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show the current return with its buttons."""
    chat_id, _, lang = _ids(update)
    await show(context, chat_id, await _service(context).show_return(chat_id, lang))


async def on_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the commands."""
    chat_id, _, lang = _ids(update)
    await show(context, chat_id, await _service(context).help(chat_id, lang))


async def on_language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Offer the languages."""
    chat_id, _, lang = _ids(update)
    await show(context, chat_id, await _service(context).language(chat_id, lang))


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A typed message: the comment of a disputed line, or a hint."""
    chat_id, _, lang = _ids(update)
    assert update.effective_message is not None
    text = update.effective_message.text or ""
    await show(context, chat_id, await _service(context).text(chat_id, text, lang))


async def on_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer every button press; refuse forged, replayed, foreign or outdated ones."""
    query = update.callback_query
    assert query is not None
    answered = False
    try:
        message = query.message if isinstance(query.message, Message) else None
        chat_id = message.chat.id if message is not None else query.from_user.id
        press = await _service(context).press(
            chat_id, query.data or "", query.from_user.language_code, query.from_user.id
        )
        await query.answer(press.answer or None, show_alert=press.alert)
        answered = True
        await show(context, chat_id, press.replies, pressed=message)
    finally:
        if not answered:
            try:
                await query.answer()
            except TelegramError:
                log.warning("could not answer a button press", exc_info=True)


async def only_private_chats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Runs before every handler: an update from a group, supergroup or channel gets no
    answer (a return, a code or a button must never be shown to other members); a button
    pressed there is answered empty so the client stops waiting."""
    chat = update.effective_chat
    if chat is None or chat.type == ChatType.PRIVATE:
        return
    log.info("update from a %s chat ignored", chat.type)
    if update.callback_query is not None:
        try:
            await update.callback_query.answer()
        except TelegramError:
            log.warning("could not answer a button press", exc_info=True)
    raise ApplicationHandlerStop


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log a handler failure (no personal data: updates are not logged)."""
    log.error("bot handler failed: %r", context.error, exc_info=context.error)


def build_application(
    settings: Settings,
    service: BotService,
    keyboards: Keyboards,
    rate_limiter: FleetRateLimiter | None,
    *,
    updater: bool,
) -> Application[Any, Any, Any, Any, Any, Any]:
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_token)
        .base_url(f"{settings.telegram_api_base}/bot")
        .base_file_url(f"{settings.telegram_api_base}/file/bot")
        .concurrent_updates(False)
    )
    if rate_limiter is not None:
        builder = builder.rate_limiter(rate_limiter)  # type: ignore[arg-type]
    if not updater:
        builder = builder.updater(None)
    application = builder.build()
    application.bot_data[SERVICE] = service
    application.bot_data[KEYBOARDS] = keyboards
    application.add_handler(TypeHandler(Update, only_private_chats), group=-1)
    application.add_handler(CommandHandler("start", on_start))
    application.add_handler(CommandHandler("unlink", on_unlink))
    application.add_handler(CommandHandler("return", on_return))
    application.add_handler(CommandHandler("help", on_help))
    application.add_handler(CommandHandler("language", on_language))
    application.add_handler(MessageHandler(filters.CONTACT, on_contact))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))
    application.add_handler(CallbackQueryHandler(on_press))
    application.add_error_handler(on_error)
    return application
